package io.hotmem.internal;

/** Padding before {@link ZoneFastFields}: see there. */
abstract class ZonePadBefore {
    long p00, p01, p02, p03, p04, p05, p06, p07;
}
