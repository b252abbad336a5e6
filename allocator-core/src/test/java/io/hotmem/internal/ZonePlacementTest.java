package io.hotmem.internal;

import io.hotmem.MemoryBacking;
import io.hotmem.ZoneType;
import io.hotmem.internal.prim.AddressRange;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Placement in a zone (see Zone's Placement): resident free blocks are taken before purged ones, a purged block
 * moves behind the resident ones of its list, and a resident free limit returns what a free leaves over it.
 */
class ZonePlacementTest {
    private static final int PAGE_SHIFT = 12;

    private static Zone zone(int pages, int maxOrder, double residentFreeLimit) {
        return TestZones.plugged(ZoneType.NORMAL, pages, PAGE_SHIFT, maxOrder, residentFreeLimit,
                AddressRange.reserve(MemoryBacking.MMAP, (long) pages << PAGE_SHIFT, 1 << PAGE_SHIFT));
    }

    private static long residentFree(Zone z) {
        return TestZones.residentFree(z);
    }

    @Test
    void aResidentBlockOfAHigherOrderIsTakenBeforeAPurgedOneOfTheOrder() {
        Zone z = zone(64, 4, Double.POSITIVE_INFINITY);
        assertEquals(64, z.purgedPagesLocked(), "fresh memory counts as purged");
        assertEquals(0, z.allocateLocked(2, 1, true)); // leaves 4 (order 2) and 8 (order 3), purged
        assertEquals(8, z.allocateLocked(3, 2, true));
        z.freeLocked(8); // resident now, at the head of order 3's list
        z.checkLocked();
        assertEquals(8, residentFree(z));
        // The buddy allocator's choice would be page 4 (the order-2 block); the resident block wins.
        assertEquals(8, z.allocateLocked(2, 3, true));
        assertEquals(4, residentFree(z), "the rest of the resident block, split");
        z.checkLocked();
        assertEquals(12, z.allocateLocked(2, 4, true), "the resident half left by the split");
        assertEquals(0, residentFree(z));
        // With no resident block of the order or above, the smallest purged block is taken.
        assertEquals(4, z.allocateLocked(2, 5, true));
        z.checkLocked();
    }

    @Test
    void aPurgedBlockMovesBehindTheResidentOnesOfItsList() {
        Zone z = zone(256, 4, Double.POSITIVE_INFINITY);
        List<Integer> heads = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            heads.add(z.allocateLocked(4, i, true));
        }
        for (int i = 0; i < 16; i += 2) {
            z.freeLocked(heads.get(i)); // eight resident order-4 blocks (their buddies are used: no merge)
        }
        long[] purged = new long[1];
        z.purgeLocked(0, 0, 3, Long.MAX_VALUE, purged); // the first three heads walked: pages 0 (free), 16, 32 (free)
        assertEquals(32, purged[0]);
        z.checkLocked(); // resident before purged in every list, and the tails right
        // The resident blocks come first: the newest freed (224), then the others, never 0 or 32 until they are all taken.
        for (int i = 0; i < 6; i++) {
            int page = z.allocateLocked(4, 100 + i, true);
            assertTrue(page != 0 && page != 32, "took purged block " + page + " before a resident one");
        }
        int a = z.allocateLocked(4, 200, true);
        int b = z.allocateLocked(4, 201, true);
        assertEquals(List.of(0, 32), List.of(Math.min(a, b), Math.max(a, b)));
        z.checkLocked();
    }

    @Test
    void aResidentFreeLimitReturnsWhatAFreeLeavesOverIt() {
        int pages = 4096; // 16 MiB: four times the floor
        Zone z = zone(pages, 10, 0.0);
        long floor = Zone.RESIDENT_FREE_FLOOR_BYTES >>> PAGE_SHIFT;
        List<Integer> heads = new ArrayList<>();
        MemorySegment m = z.memory;
        for (int i = 0; i < pages / 64; i++) {
            int h = z.allocateLocked(6, i, true);
            heads.add(h);
            m.asSlice(z.byteOffset(h), 64 << PAGE_SHIFT).fill((byte) (i + 1));
        }
        // Free three in four, in a scattered order; every free stays at or under the floor of resident free pages.
        SplittableRandom rnd = new SplittableRandom(7);
        List<Integer> order = new ArrayList<>(heads.size());
        for (int i = 0; i < heads.size(); i++) {
            order.add(i);
        }
        for (int i = order.size() - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            order.set(i, order.set(j, order.get(i)));
        }
        List<Integer> kept = new ArrayList<>();
        for (int i : order) {
            if (i % 4 == 0) {
                kept.add(i);
                continue;
            }
            z.freeLocked(heads.get(i));
            assertTrue(residentFree(z) <= floor, "resident free " + residentFree(z) + " over the floor " + floor);
            z.checkLocked();
        }
        assertTrue(z.purgedPagesLocked() > 0);
        // Nothing live was touched: every kept block still holds its bytes.
        for (int i : kept) {
            MemorySegment block = m.asSlice(z.byteOffset(heads.get(i)), 64 << PAGE_SHIFT);
            for (long off = 0; off < block.byteSize(); off += 4096) {
                assertEquals((byte) (i + 1), block.get(ValueLayout.JAVA_BYTE, off), "block " + i + " at " + off);
            }
        }
    }

    @Test
    void theLimitIsAFractionOfTheActivePagesAboveTheFloor() {
        int pages = 8192; // 32 MiB
        Zone z = zone(pages, 10, 0.5);
        List<Integer> heads = new ArrayList<>();
        for (int i = 0; i < 6144 / 1024; i++) {
            heads.add(z.allocateLocked(10, i, true)); // 24 MiB active
        }
        z.freeLocked(heads.get(0)); // 20 MiB active: budget 10 MiB (2560 pages); 4 MiB resident free is kept
        assertEquals(1024, residentFree(z));
        z.freeLocked(heads.get(1)); // 16 MiB active: budget 8 MiB; 8 MiB resident free is kept
        assertEquals(2048, residentFree(z));
        z.freeLocked(heads.get(2)); // 12 MiB active: budget 6 MiB; 12 MiB resident free is over it by 6 MiB:
        assertEquals(1024, residentFree(z), "two 4 MiB blocks go back, the oldest first");
        assertEquals(2048, z.purgedPagesLocked() - (8192 - 6144), "blocks 0 and 1 were returned, the newest kept");
        z.checkLocked();
    }

    /**
     * The agent's purge on memory the OS will not take back (mlock-ed: madvise fails): it used to fail every agent
     * round; now the first failure turns purging off for the zone, which stays consistent and keeps the block free.
     */
    @Test
    void aPurgeTheOsRefusesTurnsPurgingOffForTheZoneAndChangesNothing() {
        int pages = 1024;
        TestZones.RecordingRange range = new TestZones.RecordingRange((long) pages << PAGE_SHIFT, PAGE_SHIFT);
        Zone z = TestZones.plugged(ZoneType.NORMAL, pages, PAGE_SHIFT, 10, Double.POSITIVE_INFINITY, range);
        int a = z.allocateLocked(4, 1, true);
        z.allocateLocked(4, 2, true); // a's buddy stays used: a stays an order-4 block when freed
        z.freeLocked(a);
        long resident = residentFree(z);
        range.failing = true;
        long[] purged = new long[1];
        assertEquals(a, z.purgeLocked(0, 0, 4096, Long.MAX_VALUE, purged), "the walk stops at the refused block");
        assertEquals(0, purged[0]);
        assertEquals(resident, residentFree(z), "the block stays free and resident");
        z.checkLocked();
        range.failing = false;
        assertEquals(pages, z.purgeLocked(0, 0, 4096, Long.MAX_VALUE, purged), "purging is off for the zone");
        assertEquals(0, purged[0]);
        assertEquals(a, z.allocateLocked(4, 3, true), "the block is still there to allocate");
        z.checkLocked();
    }
}
