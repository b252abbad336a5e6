package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Exact runs of 17-64 pages keep every byte while compaction (and remap) move them and the agent purges free
 * pages at once. A worker frees an allocation and at once allocates one of another length, which takes the same
 * handle slot (the table's free stack) and the same head page (the zone's free list); pinned one-page blocks at
 * each zone's start make every compaction batch spin on them before it looks at the runs above, so a mover that
 * read a run's length and then found its slot holding the next allocation in the same place is likely. Every long
 * of an allocation holds its id and its offset, so a mismatch says what the page holds instead: zeros (purged, or
 * a target never copied) or another allocation's words (overlap). At the end, the pages the zones count active
 * are exactly the pages the live allocations hold.
 *
 * <p>Before the fix, a move of such a replaced allocation took a target of the old run's length and copied the new
 * allocation's size into it: bytes past the old length were zeros or a neighbour's (within about 1-6 s here).
 * {@code -Dhotmem.stress.seconds} (default 10; the test stops at the first failure).
 */
class ExactRunMoveIntegrityTest {
    private static final long SECONDS = Long.getLong("hotmem.stress.seconds", 10);
    private static final int PAGE = 4096;
    private static final int[] NODES = {1, 2};
    private static final int PINNED_PER_NODE = 56;
    private static final int LIVE = 6;
    private static final int HOT = AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE;

    private final AtomicBoolean stop = new AtomicBoolean();
    private final ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    private final AtomicLong moved = new AtomicLong();
    private long ids;

    /** An allocation the worker owns: the long at offset {@code off} is {@link #word}{@code (id, off)}. */
    record Owned(long handle, long size, long id) {
    }

    static long word(long id, long off) {
        return id << 32 | off >>> 3;
    }

    @Test
    void exactRunsKeepEveryByteWhileMovedAndReplaced() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("exact-run-move").pageSize(PAGE).maxOrder(7).jmx(false)
                .purgeAfter(Duration.ZERO)
                .node(NodeSpec.fixed(1L << 20))
                .node(NodeSpec.hotRemovable(4L << 20))
                .node(NodeSpec.hotRemovable(4L << 20))
                .build()) {
            int[] zones = new int[NODES.length];
            List<Long> pinned = new ArrayList<>();
            List<Pin> pins = new ArrayList<>();
            for (int i = 0; i < NODES.length; i++) {
                zones[i] = a.status().node(NODES[i]).zones().getFirst().id();
                for (int k = 0; k < PINNED_PER_NODE; k++) {
                    long h = a.allocate(PAGE, HOT, NODES[i]);
                    pinned.add(h);
                    pins.add(a.pin(h));
                }
            }
            a.trimCaches();
            List<Owned> owned = new ArrayList<>();
            SplittableRandom wr = new SplittableRandom(20261203L);
            SplittableRandom mr = new SplittableRandom(20261204L);
            List<Thread> threads = List.of(
                    start("worker", () -> worker(a, wr, owned)),
                    start("mover", () -> {
                        while (!stop.get()) {
                            int z = zones[mr.nextInt(zones.length)];
                            RelocationReport r = mr.nextInt(4) == 0 ? a.remap(z, Duration.ofMillis(2))
                                    : a.compact(z, Duration.ofMillis(20));
                            moved.addAndGet(r.moved());
                        }
                    }));
            long end = System.nanoTime() + SECONDS * 1_000_000_000L;
            while (System.nanoTime() < end && failures.isEmpty()) {
                Thread.sleep(10);
            }
            stop.set(true);
            for (Thread t : threads) {
                t.join(60_000);
                assertTrue(!t.isAlive(), t.getName() + " did not stop");
            }
            assertTrue(failures.isEmpty(), () -> "failures: " + describe(failures));
            assertTrue(moved.get() > 0, "nothing moved");

            pins.forEach(Pin::close);
            a.trimCaches();
            long held = pinned.size();
            for (Owned x : owned) {
                check(a, x);
                held += (x.size() + PAGE - 1) / PAGE;
            }
            long active = 0;
            for (var n : a.status().nodes()) {
                for (ZoneStatus z : n.zones()) {
                    active += z.activePages();
                }
            }
            assertEquals(held, active, "pages the zones count active against the pages the live allocations hold");
            owned.forEach(x -> a.free(x.handle()));
            pinned.forEach(a::free);
            a.checkInvariants();
            System.out.println("[exact-run-move] seconds=" + SECONDS + " allocations=" + ids + " moved="
                    + moved.get());
        }
    }

    private Thread start(String name, Runnable body) {
        return Thread.ofPlatform().name(name).start(() -> {
            try {
                body.run();
            } catch (Throwable t) {
                failures.add(new AssertionError(name + " failed", t));
                stop.set(true);
            }
        });
    }

    private static String describe(ConcurrentLinkedQueue<Throwable> failures) {
        var sw = new java.io.StringWriter();
        failures.forEach(t -> t.printStackTrace(new java.io.PrintWriter(sw)));
        return sw.toString();
    }

    private void worker(PageAllocator a, SplittableRandom r, List<Owned> mine) {
        while (!stop.get()) {
            if (mine.size() == LIVE) {
                int i = r.nextInt(mine.size());
                Owned x = mine.get(i);
                check(a, x);
                a.free(x.handle());
                mine.set(i, mine.getLast());
                mine.removeLast();
            }
            // 17 to 64 pages: exact runs cut from 32- and 64-page blocks (the whole block at 32 and 64).
            int pages = 17 + r.nextInt(48);
            long size = (long) (pages - 1) * PAGE + 1 + r.nextInt(PAGE);
            long h = a.tryAllocate(size, HOT, NODES[r.nextInt(NODES.length)]);
            if (h == PageAllocator.NULL_HANDLE) {
                continue;
            }
            Owned x = new Owned(h, size, ++ids);
            // One long at a time (a pin each): the mover may move it between any two writes.
            for (long off = 0; off + 8 <= size; off += 8) {
                a.setLong(h, off, word(x.id(), off));
            }
            mine.add(x);
        }
    }

    /** Checks every long of {@code x} under a pin, and says which pages are wrong and what they hold. */
    private static void check(PageAllocator a, Owned x) {
        assertEquals(x.size(), a.sizeOf(x.handle()));
        try (Pin p = a.pin(x.handle())) {
            MemorySegment s = p.segment();
            long first = -1;
            long wrongPages = 0;
            long lastWrongPage = -1;
            for (long off = 0; off + 8 <= x.size(); off += 8) {
                if (s.get(ValueLayout.JAVA_LONG_UNALIGNED, off) != word(x.id(), off)) {
                    if (first < 0) {
                        first = off;
                    }
                    if (off / PAGE != lastWrongPage) {
                        lastWrongPage = off / PAGE;
                        wrongPages++;
                    }
                }
            }
            if (first >= 0) {
                long v = s.get(ValueLayout.JAVA_LONG_UNALIGNED, first);
                String holds = v == 0 ? "zeros" : "0x" + Long.toHexString(v) + " (allocation " + (v >>> 32)
                        + " at offset " + ((v & 0xFFFFFFFFL) << 3) + ")";
                throw new AssertionError("allocation " + x.id() + " (0x" + Long.toHexString(x.handle()) + ", "
                        + x.size() + " bytes, " + (x.size() + PAGE - 1) / PAGE + " pages) is wrong from offset "
                        + first + " (page " + first / PAGE + "), " + wrongPages + " pages wrong; page "
                        + first / PAGE + " holds " + holds);
            }
        }
    }
}
