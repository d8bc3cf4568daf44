#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Prints the commit vaultmountd is built from, for `vaultmountd --version`:
# git's (with -dirty for uncommitted changes), else the .vcs-commit file a
# copy of the tree carries (packaging/build-deb writes it; the Containerfile
# takes it from --build-arg VCS_COMMIT). Fails otherwise, and meson's
# vcs_tag() then writes "unknown".
top=$1
if c=$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null); then
        git -C "$top" diff --quiet HEAD -- 2>/dev/null || c="$c-dirty"
        echo "$c"
elif [ -s "$top/.vcs-commit" ]; then
        head -n 1 "$top/.vcs-commit"
else
        exit 1
fi
