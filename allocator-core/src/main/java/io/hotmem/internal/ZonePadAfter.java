package io.hotmem.internal;

/** Padding after {@link ZoneFastFields}, before the rest of {@link Zone}: see there. */
abstract class ZonePadAfter extends ZoneFastFields {
    long p10, p11, p12, p13, p14, p15, p16, p17;

    ZonePadAfter(int id, int cachePages) {
        super(id, cachePages);
    }
}
