package io.hotmem.internal;

/**
 * The fields of a {@link Zone} that every cached allocation and free reads, on cache lines of their own: the JVM
 * lays out superclass fields first, so the padding classes around them keep the counters that the zone lock's
 * holders write (free pages, live blocks...) and neighbouring objects off these lines. Without it, each batch refill
 * by one thread would evict the line from the other threads' caches (false sharing).
 */
abstract class ZoneFastFields extends ZonePadBefore {
    /** Global zone id. */
    final int id;
    /**
     * Most pages a thread caches per order from this zone: 1/64 of the zone, at most 1 MiB (as Linux scales its
     * per-CPU list limits to the zone), so that a small zone is not hoarded by the caches of many threads.
     */
    final int cachePages;
    /**
     * Odd while the zone accepts new blocks, even otherwise; changed (always by 1 or 2, never back to an old value
     * while plugged) under the zone lock on every open, close, drain start or end, plug and unplug. A thread cache
     * uses its blocks of this zone only while this is an accepting epoch.
     */
    volatile int cacheEpoch;

    ZoneFastFields(int id, int cachePages) {
        this.id = id;
        this.cachePages = cachePages;
    }
}
