package io.hotmem.internal;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Final adversarial review of 274df98..b8ef51e. */
class FinalReviewDefectTest {

    /**
     * Builder#residentFreeLimit promises "at most 16 blocks per free" (b4bd251: each release is an madvise under the
     * zone lock). The bound is per Zone#freeLocked, but one public free can run many of them in one zone-lock hold:
     * ThreadCache#free, on a full stack, spilled its oldest half through a zone method that called freeLocked (and
     * so the limit, up to 16 releases) for every block; Zone#freeAllLocked now applies the limit once per batch.
     * For single pages with 4 KiB pages a stack holds ThreadCache.largestCapacity(12) = 256 blocks, so one free spills 128 blocks: a zone over its limit in
     * small blocks (the state the 16-bound was made for: the active set fell) makes up to 128 x 16 releases in
     * that one free, holding the lock.
     */
    @Test
    void oneFreeThatSpillsAThreadCacheMakesAtMost16Releases() {
        TestZones.FreeSinglesNearTheLimit f = TestZones.FreeSinglesNearTheLimit.build();
        Zone z = f.zone();
        TestZones.RecordingRange range = f.range();
        int[] big = f.big();
        int[] small = f.small();
        assertEquals(0, range.releases, "within the limit");
        z.freeLocked(big[0]); // the active set falls: the zone is over its limit in single pages
        assertTrue(range.releases <= 16, "the free of the 4 MiB block: " + range.releases);
        z.checkLocked();

        // A thread cache's full stack of single pages spills its oldest half in one free (ThreadCache#spill).
        int spill = ThreadCache.largestCapacity(12) / 2;
        int[] cached = new int[spill];
        for (int i = 0; i < spill; i++) {
            cached[i] = small[2 * (1000 + 7 * i) + 1]; // live single pages, as the cache would hold them
        }
        int before = range.releases;
        long t = System.nanoTime();
        z.freeAllLocked(cached, 0, spill);
        long micros = (System.nanoTime() - t) / 1000;
        z.checkLocked();
        int releases = range.releases - before;
        assertTrue(releases <= Zone.RELEASES_PER_FREE, "one free that spills a thread cache's " + spill
                + " single pages made " + releases + " releases (madvise calls) holding the zone lock for " + micros
                + " us; Builder#residentFreeLimit says at most 16 blocks per free");
    }
}
