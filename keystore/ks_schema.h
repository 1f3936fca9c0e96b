/*
 * ks_schema.h: the schema migrations, in order.  Version N is reached by
 * running migrations[0..N-1].  Never edit a migration that has shipped:
 * add a new one.
 */
#ifndef KS_SCHEMA_H
#define KS_SCHEMA_H

extern const char *const ks_migrations[];
extern const int ks_migration_count;

#endif
