/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volume-observe.c - log context and staleness horizon of a volume record
 * (see volume-observe.h).
 */
#include <string.h>

#include "volume-observe.h"
#include "macro.h"

const char *volume_record_attribute(const VolumeRecord *r, const char *key) {
        for (size_t i = 0; r && i < r->n_attrs; i++)
                if (r->attrs[i].key && streq(r->attrs[i].key, key))
                        return r->attrs[i].value;
        return NULL;
}

void volume_record_log_context(const VolumeRecord *r, LogContext *ret) {
        *ret = (LogContext){
                .volume_id = r->volume_id,
                .pod_namespace = volume_record_attribute(r, VOLUME_POD_NAMESPACE_KEY),
                .pod_name = volume_record_attribute(r, VOLUME_POD_NAME_KEY),
                .pod_uid = volume_record_attribute(r, VOLUME_POD_UID_KEY),
        };
}
