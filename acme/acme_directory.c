/*
 * acme_directory.c: the directory's fields, read in one place.
 */
#include "acme_directory.h"

#include <string.h>

static const char *url_of(json_t *js, const char *field)
{
    return json_string_value(json_object_get(js, field));
}

void acme_directory_read(json_t *js, acme_directory *dir)
{
    json_t *meta = json_object_get(js, "meta");
    json_t *profs = json_object_get(meta, "profiles");

    memset(dir, 0, sizeof(*dir));
    dir->new_nonce = url_of(js, "newNonce");
    dir->new_account = url_of(js, "newAccount");
    dir->new_order = url_of(js, "newOrder");
    dir->revoke_cert = url_of(js, "revokeCert");
    dir->key_change = url_of(js, "keyChange");
    dir->renewal_info = url_of(js, "renewalInfo");
    dir->eab_required =
        json_is_true(json_object_get(meta, "externalAccountRequired"));
    dir->profiles = json_is_object(profs) ? profs : NULL;
}
