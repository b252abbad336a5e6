package io.hotmem.internal;

import io.hotmem.ZoneType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Final adversarial review of 274df98..b8ef51e. */
class FinalReviewDefectTest {

    /**
     * Builder#residentFreeLimit promises "at most 16 blocks per free" (b4bd251: each release is an madvise under the
     * zone lock). The bound is per Zone#freeLocked, but one public free can run many of them in one zone-lock hold:
     * ThreadCache#free, on a full stack, spilled its oldest half through a zone method that called freeLocked (and
     * so the limit, up to 16 releases) for every block; Zone#freeAllLocked now applies the limit once per batch. For single pages with 4 KiB pages a stack
     * holds ThreadCache.largestCapacity(12) = 256 blocks, so one free spills 128 blocks: a zone over its limit in
     * small blocks (the state the 16-bound was made for: the active set fell) makes up to 128 x 16 releases in
     * that one free, holding the lock.
     */
    @Test
    void oneFreeThatSpillsAThreadCacheMakesAtMost16Releases() {
        int pages = 1 << 17; // 512 MiB of 4 KiB pages, reserved, a fraction touched
        double limit = 0.9;
        TestZones.RecordingRange range = new TestZones.RecordingRange((long) pages << 12, 12);
        Zone z = TestZones.plugged(ZoneType.MOVABLE, pages, 12, 10, limit, range);
        int blocks = 4;
        int[] big = new int[blocks];
        for (int i = 0; i < blocks; i++) {
            big[i] = z.allocateLocked(10, 1 + i, true); // 4 MiB
        }
        int singles = 9 * 1024 * blocks; // free singles within 0.9 of the active pages
        int[] small = new int[2 * singles];
        for (int i = 0; i < small.length; i++) {
            small[i] = z.allocateLocked(0, 100 + i, true);
            z.memory.set(ValueLayout.JAVA_BYTE, z.byteOffset(small[i]), (byte) 1);
        }
        Arrays.sort(small);
        for (int i = 0; i < small.length; i += 2) {
            z.freeLocked(small[i]); // every other page: each free single has a live buddy
        }
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
