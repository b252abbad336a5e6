package io.hotmem.internal;

import io.hotmem.ZoneType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Exact runs (Linux {@code alloc_pages_exact}) and compaction's targeted allocation, in one zone. */
class ZoneExactRunTest {
    private static Zone zone(int pages, int maxOrder) {
        return ZoneBuddyTest.zone(pages, maxOrder, ZoneType.NORMAL);
    }

    @ParameterizedTest(name = "run of {0} pages")
    @CsvSource({"1, 0", "2, 1", "3, 2", "4, 2", "5, 3", "7, 3", "8, 3", "9, 4", "33, 6", "1023, 10", "1024, 10"})
    void orderOfRunIsTheSmallestBlockThatHoldsIt(int run, int order) {
        assertEquals(order, Zone.orderOfRun(run));
    }

    /** Each row: a run length in a fresh 16-page order-4 zone, and the free blocks per order left after it. */
    @ParameterizedTest(name = "run {0} -> free blocks by order {1}")
    @CsvSource(delimiter = ';', value = {
            "5;  1 1 0 1 0",     // pages 5 (o0), 6-7 (o1), 8-15 (o3)
            "3;  1 0 1 1 0",     // 3 (o0), 4-7 (o2), 8-15 (o3)
            "9;  1 1 1 0 0",     // 9 (o0), 10-11 (o1), 12-15 (o2)
            "15; 1 0 0 0 0",     // 15 (o0)
            "16; 0 0 0 0 0",
            "4;  0 0 1 1 0",     // a power of two is the aligned block itself
    })
    void theTailOfTheBlockIsFreeAtOnce(int run, String freeByOrder) {
        Zone z = zone(16, 4);
        assertEquals(0, z.allocateRunLocked(run, 7, false));
        assertEquals(run, z.runPagesLocked(0));
        assertEquals(16 - run, z.freePagesLocked(), "only the run's pages are taken");
        int[] expected = Arrays.stream(freeByOrder.trim().split(" +")).mapToInt(Integer::parseInt).toArray();
        assertArrayEquals(expected, z.freeBlocksLocked());
        z.checkLocked();
        z.freeLocked(0);
        z.checkLocked();
        assertArrayEquals(new int[]{0, 0, 0, 0, 1}, z.freeBlocksLocked(), "everything merged back to one block");
        assertEquals(0, z.allocateLocked(4, 1, false));
    }

    @Test
    void theTailServesTheNextAllocationsAndAllMergesBack() {
        Zone z = zone(16, 4);
        int a = z.allocateRunLocked(5, 1, false);       // 0-4, free 5 (o0), 6-7 (o1), 8-15 (o3)
        int b = z.allocateRunLocked(3, 2, false);       // an order-2 block: 8-10, free 11 (o0), 12-15 (o2)
        int c = z.allocateRunLocked(2, 3, false);       // 6-7
        int d = z.allocateRunLocked(1, 4, false);       // 11 or 5 (the order-0 list is LIFO)
        assertEquals(0, a);
        assertEquals(8, b);
        assertEquals(6, c);
        assertTrue(d == 5 || d == 11, "order 0 from a tail: " + d);
        assertEquals(16 - 5 - 3 - 2 - 1, z.freePagesLocked());
        z.checkLocked();
        assertEquals(b, z.nextUsedHeadLocked(8));
        for (int h : new int[]{c, a, d, b}) {
            z.freeLocked(h);
            z.checkLocked();
        }
        assertArrayEquals(new int[]{0, 0, 0, 0, 1}, z.freeBlocksLocked());
    }

    @Test
    void theWalkStepsOverRunsByTheirLength() {
        Zone z = zone(64, 6);
        int a = z.allocateRunLocked(3, 1, false);
        int b = z.allocateRunLocked(5, 2, false);
        List<Integer> walked = new ArrayList<>();
        for (int h = z.nextUsedHeadLocked(0); h != Zone.NIL; h = z.nextUsedHeadLocked(h + z.runPagesLocked(h))) {
            walked.add(h);
        }
        assertEquals(List.of(a, b), walked.stream().sorted().toList());
        long[] purged = new long[1];
        assertEquals(64, z.purgeLocked(0, 0, 4096, 4096, purged), "the purge walk crosses the runs to the end");
        z.checkLocked();
    }

    @Test
    void aPurgeResumedInsideARunWalksOn() {
        Zone z = zone(16, 4);
        int a = z.allocateRunLocked(5, 1, false); // pages 0-4; page 2 is inside the run (no head, stale links)
        assertEquals(0, a);
        long[] purged = new long[1];
        int next = z.purgeLocked(2, 0, 1, 4096, purged);
        assertTrue(next > 2 && next <= 16, "one head's step forward from inside a run, not " + next);
        assertEquals(16, z.purgeLocked(2, 0, 4096, 4096, purged), "the walk reaches the end");
        z.checkLocked();
    }

    /** Random runs and frees against a page bitmap, every invariant checked after each step. */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 42, 2026})
    void randomRunsKeepEveryInvariant(long seed) {
        int pages = 1000; // not a power of two: the tail is carved into smaller blocks
        Zone z = zone(pages, 6);
        SplittableRandom r = new SplittableRandom(seed);
        BitSet used = new BitSet(pages);
        List<int[]> live = new ArrayList<>(); // head, run
        int slot = 1;
        for (int step = 0; step < 4000; step++) {
            if (live.isEmpty() || r.nextInt(100) < 55) {
                int run = 1 + r.nextInt(r.nextBoolean() ? 8 : 64);
                int h = r.nextInt(4) == 0 ? z.allocateRunAboveLocked(run, slot, r.nextInt(pages), 1 << 20)
                        : z.allocateRunLocked(run, slot, false);
                if (h == Zone.NIL) {
                    continue;
                }
                assertEquals(0, h & ((1 << Zone.orderOfRun(run)) - 1), "a run's head is aligned to its order");
                assertTrue(used.get(h, h + run).isEmpty(), "run " + h + "+" + run + " overlaps a live one");
                used.set(h, h + run);
                live.add(new int[]{h, run});
                assertEquals(slot, z.ownerLocked(h));
                slot++;
            } else {
                int[] victim = live.remove(r.nextInt(live.size()));
                assertEquals(victim[1], z.runPagesLocked(victim[0]));
                z.freeLocked(victim[0]);
                used.clear(victim[0], victim[0] + victim[1]);
            }
            assertEquals(pages - used.cardinality(), z.freePagesLocked());
            assertEquals(live.size(), z.liveBlocksLocked());
            z.checkLocked();
        }
        for (int[] run : live) {
            z.freeLocked(run[0]);
        }
        z.checkLocked();
        assertEquals(pages, z.freePagesLocked());
        int[] carved = zone(pages, 6).freeBlocksLocked();
        assertArrayEquals(carved, z.freeBlocksLocked(), "all merged back to the zone's initial blocks");
    }

    @Test
    void allocateAboveTakesTheTopOfTheHighestBlock() {
        Zone z = zone(64, 4); // four order-4 blocks: 0, 16, 32, 48
        int h = z.allocateRunAboveLocked(3, 1, 10, 1 << 20);
        assertEquals(60, h, "the top order-2 block of the highest order-4 block");
        assertEquals(3, z.runPagesLocked(60));
        z.checkLocked();
        // Page 63 is free now (the trimmed tail): the highest free block that holds the run wins.
        assertEquals(63, z.allocateRunAboveLocked(1, 2, 10, 1 << 20));
        assertEquals(Zone.NIL, z.allocateRunAboveLocked(16, 3, 49, 1 << 20), "no order-4 block at or above 49");
        assertEquals(32, z.allocateRunAboveLocked(16, 3, 17, 1 << 20));
        z.checkLocked();
        z.setDrainingLocked(true);
        assertEquals(Zone.NIL, z.allocateRunAboveLocked(1, 4, 0, 1 << 20), "a draining zone takes no block");
        z.setDrainingLocked(false);
        z.setOpenLocked(false);
        assertFalse(z.isOpenLocked());
        assertEquals(Zone.NIL, z.allocateRunAboveLocked(16, 4, 0, 1 << 20),
                "a closed (disabled) zone takes no block: an unplug must not meet a compaction's target");
        z.checkLocked();
    }
}
