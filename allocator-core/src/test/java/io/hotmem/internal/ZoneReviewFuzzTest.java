package io.hotmem.internal;

import io.hotmem.ZoneType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Review of commit 64fc5dd, passing: random sequences of every zone operation against checkLocked and an oracle
 * range that fails any release overlapping an in-use run (live, thread-cached, compaction target). Kept as a
 * regression guard; the defects found are in ZoneReviewDefectTest.
 */
class ZoneReviewFuzzTest {

    /** An MMAP range that checks every release against the blocks the test holds (live, cached, targets). */
    static final class CheckingRange extends TestZones.RecordingRange {
        /** In-use runs: head page -> pages (zone offset 0, so the range offset is the page times the page size). */
        final TreeMap<Integer, Integer> inUse = new TreeMap<>();

        CheckingRange(long bytes, int pageShift) {
            super(bytes, pageShift);
        }

        @Override
        void check(long offset, long bytes) {
            int from = (int) (offset >>> pageShift);
            int to = (int) ((offset + bytes) >>> pageShift);
            var below = inUse.floorEntry(to - 1);
            if (below != null && below.getKey() + below.getValue() > from) {
                fail("released pages [" + from + ", " + to + ") while the run at " + below.getKey() + " of "
                        + below.getValue() + " pages is in use");
            }
        }
    }

    /**
     * Random sequences of every zone operation against checkLocked, a model of what is in use (live, cached,
     * compaction targets) and a pattern written into each in-use run; the range fails any release that touches an
     * in-use run.
     */
    @ParameterizedTest(name = "seed {0}, limit {1}")
    @CsvSource({"1, 0.0", "2, 0.0", "3, 0.05", "4, 0.5", "5, Infinity", "6, 0.0", "7, 2.0", "8, 0.0"})
    void randomSequencesKeepEveryInvariant(long seed, double limit) {
        int pageShift = 16; // 64 KiB pages: the 4 MiB floor is 64 pages
        int pages = 1000; // not a power of two: a carved tail
        int maxOrder = 6;
        CheckingRange range = new CheckingRange((long) pages << pageShift, pageShift);
        Zone z = TestZones.plugged(ZoneType.MOVABLE, pages, pageShift, maxOrder, limit, range);
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Integer> live = new ArrayList<>();
        List<Integer> cached = new ArrayList<>();
        int slot = 1;
        long[] purged = new long[1];
        for (int step = 0; step < 6000; step++) {
            int op = rnd.nextInt(100);
            String what;
            if (op < 30) {
                int run = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(1 << maxOrder) : 1 + rnd.nextInt(9);
                what = "allocateRun " + run;
                int p = z.allocateRunLocked(run, slot++, true);
                if (p != Zone.NIL) {
                    take(z, range, live, p);
                }
            } else if (op < 36) {
                int order = rnd.nextInt(maxOrder + 1);
                what = "allocate order " + order;
                int p = z.allocateLocked(order, slot++, true);
                if (p != Zone.NIL) {
                    take(z, range, live, p);
                }
            } else if (op < 44) {
                int run = 1 + rnd.nextInt(12);
                int above = rnd.nextInt(pages);
                what = "allocateRunAbove " + run + " above " + above;
                int p = z.allocateRunAboveLocked(run, slot++, above, 1 + rnd.nextInt(64));
                if (p != Zone.NIL) {
                    assertTrue(p >= above, what + " gave " + p);
                    take(z, range, live, p);
                }
            } else if (op < 75) {
                if (live.isEmpty()) {
                    continue;
                }
                int p = live.remove(rnd.nextInt(live.size()));
                what = "free " + p;
                verify(z, p);
                range.inUse.remove(p);
                z.freeLocked(p);
            } else if (op < 82) {
                int run = 1 + rnd.nextInt(4);
                int n = 1 + rnd.nextInt(8);
                what = "refill " + n + " x " + run;
                int[] slots = new int[n];
                for (int i = 0; i < n; i++) {
                    slots[i] = slot++;
                }
                int[] out = new int[n];
                int got = z.refillCacheLocked(run, slots, out, n, z.cacheEpoch);
                for (int i = 0; i < got; i++) {
                    take(z, range, cached, out[i]);
                }
            } else if (op < 88) {
                if (cached.isEmpty()) {
                    continue;
                }
                int n = 1 + rnd.nextInt(cached.size());
                int[] back = new int[n];
                for (int i = 0; i < n; i++) {
                    back[i] = cached.remove(cached.size() - 1);
                    verify(z, back[i]);
                    range.inUse.remove(back[i]);
                }
                what = "return " + n + " cached";
                z.freeAllLocked(back, 0, n);
            } else if (op < 96) {
                int from = rnd.nextInt(4) == 0 ? rnd.nextInt(pages) : 0;
                what = "purge from " + from;
                z.purgeLocked(from, 0, 1 + rnd.nextInt(50), 1 + rnd.nextInt(200), purged);
            } else {
                // unplug and replug when nothing is in use, else free everything
                what = "empty";
                for (int p : live) {
                    verify(z, p);
                    range.inUse.remove(p);
                    z.freeLocked(p);
                }
                live.clear();
                int[] back = cached.stream().mapToInt(Integer::intValue).toArray();
                for (int p : back) {
                    verify(z, p);
                    range.inUse.remove(p);
                }
                z.freeAllLocked(back, 0, back.length);
                cached.clear();
                z.checkLocked();
                assertEquals(pages, z.freePagesLocked());
                if (rnd.nextBoolean()) {
                    z.unplugLocked();
                    z.checkLocked();
                    z.plugLocked(range.segment().asSlice(0, (long) pages << pageShift), range);
                    z.setOpenLocked(true);
                }
            }
            try {
                z.checkLocked();
            } catch (IllegalStateException e) {
                throw new AssertionError("seed " + seed + " step " + step + " after " + what + ": " + e.getMessage(), e);
            }
        }
        for (int p : live) {
            verify(z, p);
        }
        for (int p : cached) {
            verify(z, p);
        }
        assertTrue(range.releases > 0);
    }

    private static void take(Zone z, CheckingRange range, List<Integer> list, int p) {
        int run = z.runPagesLocked(p);
        var below = range.inUse.floorEntry(p + run - 1);
        assertTrue(below == null || below.getKey() + below.getValue() <= p,
                "run at " + p + " overlaps the run at " + (below == null ? -1 : below.getKey()));
        range.inUse.put(p, run);
        list.add(p);
        for (int i = 0; i < run; i++) {
            z.memory.set(ValueLayout.JAVA_LONG, z.byteOffset(p + i), pattern(p, i));
        }
    }

    private static void verify(Zone z, int p) {
        assertTrue(z.isUsedHeadLocked(p), "page " + p + " is no longer a used head");
        int run = z.runPagesLocked(p);
        for (int i = 0; i < run; i++) {
            assertEquals(pattern(p, i), z.memory.get(ValueLayout.JAVA_LONG, z.byteOffset(p + i)),
                    "run at " + p + " page " + i + " changed");
        }
    }

    private static long pattern(int p, int i) {
        return 0x5EED_0000_0000L | ((long) p << 16) | i;
    }
}
