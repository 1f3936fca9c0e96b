/*
 * ks_schema.h: the schema migrations, in order.  Version N is reached by
 * running migrations[0..N-1].  Never edit a migration that has shipped:
 * add a new one.
 */
#ifndef KS_SCHEMA_H
#define KS_SCHEMA_H

extern const char *const ks_migrations[];
extern const int ks_migration_count;

/* The listing's covering index, as the latest schema defines it.  A first
 * scan into an empty inventory drops it and builds it once at the end
 * (3x cheaper than maintaining it row by row); ks_open() runs this, so an
 * interrupted first scan leaves no database without it.  A migration that
 * redefines the index must change this too. */
extern const char ks_listing_index_sql[];

#endif
