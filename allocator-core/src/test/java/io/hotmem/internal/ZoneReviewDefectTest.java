package io.hotmem.internal;

import io.hotmem.MemoryBacking;
import io.hotmem.ZoneType;
import io.hotmem.internal.prim.AddressRange;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Adversarial review of the zone placement and the resident free limit (commit 64fc5dd). */
class ZoneReviewDefectTest {

    /**
     * The class comment (Placement), the Builder's Javadoc and the README say a zone keeps at most the fraction of
     * its active pages (at least the floor) free and resident. mergeFree only compares after linking the block it
     * frees, and returns that block only: resident free memory kept while the active set was large stays resident
     * when the active set shrinks, and no free ever gives it back.
     */
    @Test
    void theResidentFreeLimitHoldsAfterTheActiveSetShrinks() {
        int pages = 32768; // 128 MiB of 4 KiB pages
        double limit = 0.1;
        AddressRange range = AddressRange.reserve(MemoryBacking.MMAP, (long) pages << 12, 1 << 12);
        Zone z = TestZones.plugged(ZoneType.MOVABLE, pages, 12, 10, limit, range);
        long floor = Zone.RESIDENT_FREE_FLOOR_BYTES >>> 12;
        int blocks = pages / 16;
        int[] heads = new int[blocks];
        for (int i = 0; i < blocks; i++) {
            heads[i] = z.allocateLocked(4, i + 1, true); // 64 KiB blocks filling the zone
        }
        java.util.Arrays.sort(heads);
        // Free 180 blocks whose buddies stay live: 2,880 pages resident free, under 10% of the 29,888 active pages.
        for (int i = 0; i < 360; i += 2) {
            z.freeLocked(heads[i]);
        }
        assertEquals(2880, TestZones.residentFree(z));
        // Now the application frees most of its data (blocks 512 and up, which merge only among themselves).
        for (int i = 512; i < blocks; i++) {
            z.freeLocked(heads[i]);
        }
        z.checkLocked();
        long active = pages - z.freePagesLocked();
        long cap = Math.max(floor, (long) (active * limit));
        assertTrue(TestZones.residentFree(z) <= cap, "resident free " + TestZones.residentFree(z) + " pages over the cap " + cap
                + " (max(floor " + floor + ", " + limit + " x active " + active + "))");
    }

    /**
     * A release that throws inside freeLocked (new in this change: a free now calls range.release) leaves the zone
     * half updated: freeLocked counts the whole exact run free before it links its tiles, so the tiles after the one
     * whose release threw are counted free, linked nowhere and never allocated again.
     */
    @Test
    void aReleaseFailingInTheFreeOfAnExactRunLeavesTheZoneConsistent() {
        int pages = 4096; // 16 MiB
        TestZones.RecordingRange range = new TestZones.RecordingRange((long) pages << 12, 12);
        Zone z = TestZones.plugged(ZoneType.MOVABLE, pages, 12, 10, 0.0, range);
        int a = z.allocateLocked(10, 1, true); // 4 MiB
        int b = z.allocateRunLocked(768, 2, true); // 3 MiB: tiles of 512 and 256 pages when freed
        z.freeLocked(a); // 1024 resident free pages: the floor, kept
        z.checkLocked();
        range.failing = true;
        try {
            z.freeLocked(b); // its first tile takes the zone over the floor: released, and the release fails
        } catch (IllegalStateException expected) {
            // the free fails: what does it leave behind?
        }
        range.failing = false;
        try {
            z.checkLocked();
        } catch (IllegalStateException e) {
            fail("after a failed release in freeLocked: " + e.getMessage());
        }
    }
}
