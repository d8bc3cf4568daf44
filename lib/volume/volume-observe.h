/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volume-observe.h - what operators see of a volume record: the
 * log context that names the volume and its pod, and the time its files
 * would be considered stale.
 *
 * Both read fields that belong to the holder of the record's busy flag
 * (volumes.h), so only that holder calls them. Pure: no I/O, never logs.
 */
#pragma once

#include <stdint.h>

#include "log.h"
#include "volumes.h"

/* The kubelet volume attributes that name the pod (CSI podInfoOnMount). */
#define VOLUME_POD_NAME_KEY      "csi.storage.k8s.io/pod.name"
#define VOLUME_POD_NAMESPACE_KEY "csi.storage.k8s.io/pod.namespace"
#define VOLUME_POD_UID_KEY       "csi.storage.k8s.io/pod.uid"

/* The record's attribute `key`, or NULL. */
const char *volume_record_attribute(const VolumeRecord *r, const char *key);

/*
 * Fills *ret (CSI_VOLUME_ID, POD_NAMESPACE, POD_NAME, POD_UID when known)
 * with pointers into the record: install it with log_context_push() for as
 * long as the caller holds the record, and pop it before releasing it.
 */
void volume_record_log_context(const VolumeRecord *r, LogContext *ret);
