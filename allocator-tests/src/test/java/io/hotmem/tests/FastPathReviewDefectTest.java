package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.LeakDetection;
import io.hotmem.LeakReport;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Review of the allocation fast paths (one combined test per allocate and free, ThreadCache.NONE in the registry's
 * index, free's reads before its CAS) and of HandleTable.retire at close.
 */
class FastPathReviewDefectTest {
    private static final long KIB = 1024;

    private static PageAllocator allocator(String name, LeakDetection level) {
        return allocator(name, level, 64L << 20);
    }

    private static PageAllocator allocator(String name, LeakDetection level, long fixedBytes) {
        return PageAllocator.builder().name(name).backgroundThread(false).jmx(false).leakDetection(level)
                .node(NodeSpec.fixed(fixedBytes)).node(NodeSpec.hotRemovable(64L << 20)).build();
    }

    /** Two unstarted threads whose ids are equal modulo 2^16: they share a place in any index up to 65,536 long. */
    private static Thread[] collidingThreads(Runnable first, Runnable second) {
        Thread a = new Thread(first, "index-owner");
        Thread b;
        do {
            b = new Thread(second, "index-loser");
        } while (((b.threadId() ^ a.threadId()) & 0xffff) != 0);
        return new Thread[] {a, b};
    }

    private static void runBoth(Thread[] ts) throws InterruptedException {
        ts[0].start();
        ts[0].join(); // registers first: it owns the place
        ts[1].start();
        ts[1].join();
    }

    private static long tracked(PageAllocator a) {
        LeakReport r = a.leaks();
        return r.liveAllocations().stream().mapToLong(LeakReport.Site::count).sum();
    }

    /** PARANOID: a thread whose place in the index is taken goes round the fast test; each allocation is tracked. */
    @Test
    void paranoidTracksEveryAllocationOfAThreadWhoseIndexPlaceIsTaken() throws Exception {
        try (PageAllocator a = allocator("review-paranoid-collide", LeakDetection.PARANOID)) {
            int n = 500;
            AtomicInteger made = new AtomicInteger();
            Runnable work = () -> {
                for (int i = 0; i < n; i++) {
                    a.allocate((i % 20 + 1) * 4 * KIB, i % 2 == 0 ? AllocFlags.NONE : AllocFlags.HOTREMOVABLE);
                    made.incrementAndGet();
                }
            };
            runBoth(collidingThreads(work, work));
            assertEquals(made.get(), tracked(a));
        }
    }

    /** SAMPLED: a thread whose place is taken, and sizes past the fast test, are still sampled. */
    @Test
    void sampledKeepsSamplingRoundTheFastTest() throws Exception {
        try (PageAllocator a = allocator("review-sampled-collide", LeakDetection.SAMPLED, 1L << 30)) {
            int n = 32 * LeakDetection.SAMPLING_INTERVAL; // all kept live (512 MiB of 1 GiB, never touched)
            Runnable small = () -> {
                for (int i = 0; i < n; i++) {
                    a.allocate(64, AllocFlags.NONE);
                }
            };
            runBoth(collidingThreads(() -> a.allocate(64, AllocFlags.NONE), small));
            long t = tracked(a);
            assertTrue(t > 0 && t < n / 4, "tracked " + t + " of " + n);
        }
    }

    /**
     * close() while a scoped reader's view keeps the range mapped: a {@link Pin} taken before close still reads and
     * writes the (unplugged) memory after close. retire() stops every handle lookup, but a pin never looks its
     * handle up again: PinImpl's accessors check only the pin's own flag and go to the range segment, which
     * stayed open. The closed-allocator contract says every later call throws IllegalStateException.
     */
    @Test
    void pinAccessorsThrowAfterCloseWhileAScopedReaderKeepsTheRangeMapped() throws Exception {
        PageAllocator a = PageAllocator.builder().name("review-pin-after-close").backgroundThread(false).jmx(false)
                .leakDetection(LeakDetection.DISABLED).node(NodeSpec.fixed(8L << 20)).build();
        long blocked = a.allocate(1 << 20, AllocFlags.NONE);
        long h = a.allocate(4096, AllocFlags.NONE);
        a.setLong(h, 0, 42);
        Pin pin = a.pin(h);
        Pipe pipe = Pipe.open();
        CountDownLatch reading = new CountDownLatch(1);
        Thread reader = new Thread(() -> {
            try {
                a.readAsLong(blocked, s -> {
                    ByteBuffer bb = s.asByteBuffer();
                    reading.countDown();
                    try {
                        return pipe.sink().write(bb); // blocks: nobody reads the pipe
                    } catch (IOException e) {
                        return -1;
                    }
                });
            } catch (RuntimeException e) {
                // closed meanwhile
            }
        }, "blocked-scoped-reader");
        reader.setDaemon(true);
        reader.start();
        try {
            assertTrue(reading.await(5, TimeUnit.SECONDS));
            Thread.sleep(200);
            a.close();
            assertThrows(IllegalStateException.class, () -> pin.getLong(0), "Pin.getLong after close");
            assertThrows(IllegalStateException.class, () -> pin.setLong(0, 7), "Pin.setLong after close");
            pin.close(); // idempotent close of a pin after the allocator's close: must not throw
        } finally {
            pipe.source().close();
            pipe.sink().close();
            reader.join(5_000);
        }
    }

    /** The control: with the range unmapped at close, an open pin's accessors do throw IllegalStateException. */
    @Test
    void pinAccessorsThrowAfterAPlainClose() {
        PageAllocator a = PageAllocator.builder().name("review-pin-after-plain-close").backgroundThread(false)
                .jmx(false).leakDetection(LeakDetection.DISABLED).node(NodeSpec.fixed(8L << 20)).build();
        long h = a.allocate(4096, AllocFlags.NONE);
        Pin pin = a.pin(h);
        a.close();
        assertThrows(IllegalStateException.class, () -> pin.getLong(0), "Pin.getLong after close");
        assertThrows(IllegalStateException.class, () -> pin.setLong(0, 7), "Pin.setLong after close");
        pin.close();
    }

    /** A Pin closed after the allocator's close, at each leak detection level: no exception. */
    @Test
    void pinCloseAfterAllocatorCloseIsQuiet() {
        for (LeakDetection level : LeakDetection.values()) {
            PageAllocator a = allocator("review-pin-close-" + level, level);
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE);
            long h2 = a.allocate(12_000, AllocFlags.NONE);
            long h3 = a.allocate(4096, AllocFlags.HOTREMOVABLE);
            Pin p = a.pin(h);
            Pin p2 = a.pinLongTerm(h3);
            Pin p3 = a.pin(h2);
            a.close();
            p.close();
            p2.close();
            p3.close();
            assertThrows(IllegalStateException.class, () -> a.free(h));
            assertThrows(IllegalStateException.class, () -> a.free(h2));
            assertThrows(IllegalStateException.class, a::leaks);
        }
    }

    /**
     * Calls racing close, with the table retired at its end: each completes or throws IllegalStateException (or
     * AllocationFailedException), and neither it nor any cause is a NullPointerException or an
     * IndexOutOfBoundsException (a retired chunk read by publish, chunkOfSlot, the leak detector's isLive).
     */
    @Test
    void callsRacingCloseNeverMeetANullChunk() throws Exception {
        ConcurrentLinkedQueue<Throwable> found = new ConcurrentLinkedQueue<>();
        long end = System.nanoTime() + 6_000_000_000L;
        int rounds = 0;
        for (; rounds < 60 && (rounds < 15 || System.nanoTime() < end); rounds++) {
            LeakDetection level = LeakDetection.values()[rounds % LeakDetection.values().length];
            PageAllocator a = allocator("review-close-race-" + rounds, level);
            int workers = 4;
            CountDownLatch going = new CountDownLatch(workers);
            AtomicBoolean closed = new AtomicBoolean();
            List<Thread> ts = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                int id = w;
                SplittableRandom rnd = new SplittableRandom(rounds * 31L + w);
                Thread t = new Thread(() -> {
                    List<Long> live = new ArrayList<>();
                    int after = 0;
                    going.countDown();
                    while (after < 200) {
                        if (closed.get()) {
                            after++;
                        }
                        try {
                            int op = rnd.nextInt(6);
                            if (op <= 2 || live.isEmpty()) {
                                long size = id == 3 ? (1 + rnd.nextInt(40)) * 4 * KIB : 8 + rnd.nextInt(20_000);
                                int flags = (rnd.nextBoolean() ? AllocFlags.HOTREMOVABLE : 0)
                                        | (rnd.nextInt(4) == 0 ? AllocFlags.ZERO : 0);
                                live.add(a.allocate(size, flags));
                            } else if (op == 3) {
                                a.free(live.remove(live.size() - 1));
                            } else if (op == 4) {
                                a.getLong(live.get(rnd.nextInt(live.size())), 0);
                            } else {
                                try (Pin p = a.pin(live.get(rnd.nextInt(live.size())))) {
                                    p.getLong(0);
                                }
                            }
                        } catch (Throwable e) {
                            CloseRacing.judge(e, found);
                        }
                    }
                }, "close-racer-" + w);
                t.start();
                ts.add(t);
            }
            CloseRacing.closeWhileRunning(a, going, 1 + rounds % 5, closed, ts, 20_000);
        }
        CloseRacing.assertNoneFound(found, rounds);
    }

    /**
     * Every size up to the largest block, every flag set, every node, on configurations at the fast test's edges
     * (caches off, order 0 only, 64 KiB pages, tiny maxOrder): the right size, the right node (a non-HOTREMOVABLE
     * allocation never in the hot-removable node), zeroed with ZERO even from a dirty reused block, no overlap.
     */
    @Test
    void everyConfigurationAtTheFastTestsEdgesServesWhatWasAsked() {
        int[][] configs = { // pageSize, maxOrder, threadCacheMaxOrder (-2: default)
                {4096, 10, -1}, {4096, 10, 0}, {4096, 10, 1}, {4096, 10, 4}, {4096, 10, 6}, {4096, 10, -2},
                {4096, 0, -2}, {4096, 1, -2}, {4096, 2, 20}, {4096, 4, 20}, {4096, 5, 5},
                {65536, 2, -2}, {65536, 2, 0}, {65536, 2, 2}, {65536, 0, -2}, {65536, 5, 5}, {65536, 3, -1}};
        int[] flagSets = {AllocFlags.NONE, AllocFlags.HOTREMOVABLE, AllocFlags.ZERO,
                AllocFlags.ZERO | AllocFlags.HOTREMOVABLE, AllocFlags.ALIGNED, AllocFlags.ALIGNED | AllocFlags.ZERO,
                AllocFlags.THISNODE, AllocFlags.THISNODE | AllocFlags.HOTREMOVABLE | AllocFlags.ZERO,
                AllocFlags.ALIGNED | AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE};
        for (int[] cfg : configs) {
            int page = cfg[0];
            PageAllocator.Builder b = PageAllocator.builder().name("review-cfg-" + page + "-" + cfg[1] + "-" + cfg[2])
                    .pageSize(page).maxOrder(cfg[1]).backgroundThread(false).jmx(false)
                    .leakDetection(LeakDetection.SAMPLED)
                    .node(NodeSpec.fixed(256L * page)).node(NodeSpec.hotRemovable(256L * page));
            if (cfg[2] != -2) {
                b.threadCacheMaxOrder(cfg[2]);
            }
            String where = "pageSize " + page + ", maxOrder " + cfg[1] + ", threadCacheMaxOrder " + cfg[2];
            try (PageAllocator a = b.build()) {
                long max = a.maxAllocationBytes();
                List<Long> sizes = new ArrayList<>(List.of(1L, 8L, (long) page - 1, (long) page, max - 1, max));
                for (long k = 1; k <= 18 && k * page <= max; k++) {
                    sizes.add(k * page);
                    sizes.add(k * page + 1);
                    sizes.add(k * page - 1);
                }
                sizes.removeIf(x -> x < 1 || x > max);
                SplittableRandom rnd = new SplittableRandom(cfg[0] * 131L + cfg[1] * 7L + cfg[2]);
                byte tag = 1;
                for (int round = 0; round < 3; round++) {
                    List<long[]> live = new ArrayList<>(); // handle, tag
                    for (long size : sizes) {
                        for (int flags : flagSets) {
                            for (int node = -1; node <= 1; node++) {
                                boolean thisNode = (flags & AllocFlags.THISNODE) != 0;
                                boolean movable = (flags & AllocFlags.HOTREMOVABLE) != 0;
                                if (thisNode && (node < 0 || (!movable && node == 1))) {
                                    continue;
                                }
                                long h;
                                try {
                                    h = node < 0 ? a.allocate(size, flags) : a.allocate(size, flags, node);
                                } catch (AllocationFailedException e) {
                                    continue; // full: fine, the next round frees
                                }
                                String what = where + ": " + size + " bytes, " + AllocFlags.toString(flags)
                                        + ", node " + node + ", round " + round;
                                assertEquals(size, a.sizeOf(h), what);
                                if (!movable) {
                                    assertEquals(0, a.nodeOf(h), "a non-HOTREMOVABLE block in node 1: " + what);
                                }
                                if (thisNode) {
                                    assertEquals(node, a.nodeOf(h), "THISNODE: " + what);
                                }
                                if ((flags & AllocFlags.ZERO) != 0) {
                                    long nonZero = a.readAsLong(h, s2 -> s2.elements(JAVA_BYTE)
                                        .filter(x -> x.get(JAVA_BYTE, 0) != 0).count());
                                    assertEquals(0, nonZero, "ZERO not zeroed: " + what);
                                }
                                tag = (byte) (tag == 127 ? 1 : tag + 1);
                                a.setByte(h, 0, tag);
                                a.setByte(h, size - 1, tag);
                                live.add(new long[] {h, tag});
                            }
                        }
                    }
                    for (long[] e : live) {
                        long sz = a.sizeOf(e[0]);
                        assertEquals((byte) e[1], a.getByte(e[0], 0), where + ": overwritten by another");
                        assertEquals((byte) e[1], a.getByte(e[0], sz - 1), where + ": overwritten by another");
                    }
                    a.checkInvariants();
                    // Dirty every block before its free: a ZERO allocation that reuses it must see zeros.
                    for (int i = live.size() - 1; i > 0; i--) {
                        int j = rnd.nextInt(i + 1);
                        long[] t = live.get(i);
                        live.set(i, live.get(j));
                        live.set(j, t);
                    }
                    for (long[] e : live) {
                        long sz = a.sizeOf(e[0]);
                        try (Pin p = a.pin(e[0])) {
                            p.segment().fill((byte) 0x7f);
                        }
                        assertEquals(sz, a.sizeOf(e[0]));
                        a.free(e[0]);
                    }
                    a.checkInvariants();
                }
            }
        }
    }

    /**
     * Frees (through the thread caches, reading the entry before the CAS) racing remaps, compactions and
     * long-term pins of the same blocks: every live allocation keeps its contents, none shares memory with
     * another, and the page accounting holds (a free that returned the old copy's block while the allocation lived
     * at the new one would show as a lost or doubly used block).
     */
    @Test
    void freesRacingMovesNeverReturnTheOldCopy() throws Exception {
        PageAllocator a = PageAllocator.builder().name("review-free-vs-move").backgroundThread(false).jmx(false)
                .leakDetection(LeakDetection.DISABLED).maxOrder(6)
                .node(NodeSpec.fixed(32L << 20)).node(NodeSpec.hotRemovable(32L << 20)).build();
        try (a) {
            int movableZone = a.zoneOf(a.allocate(4096, AllocFlags.HOTREMOVABLE, 1));
            AtomicBoolean stop = new AtomicBoolean();
            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
            List<Thread> ts = new ArrayList<>();
            for (int w = 0; w < 3; w++) {
                int id = w;
                ts.add(new Thread(new MovableChurn(a, 1234 + id, ((long) id << 40) + 1, 200, 6 * 4096, AllocFlags.HOTREMOVABLE, 1, id == 2 ? 8 : 0, stop, errors),
                        "free-vs-move-" + w));
            }
            ts.add(new Thread(() -> {
                SplittableRandom rnd = new SplittableRandom(99);
                try {
                    while (!stop.get()) {
                        try {
                            if (rnd.nextBoolean()) {
                                a.remap(movableZone, java.time.Duration.ofMillis(50));
                            } else {
                                a.compact(movableZone, java.time.Duration.ofMillis(50));
                            }
                        } catch (IllegalStateException | AllocationFailedException ok) {
                            // busy / no room
                        }
                    }
                } catch (Throwable t) {
                    errors.add(t);
                }
            }, "mover"));
            ts.forEach(Thread::start);
            Thread.sleep(4_000);
            stop.set(true);
            for (Thread t : ts) {
                t.join(30_000);
            }
            if (!errors.isEmpty()) {
                AssertionError e = new AssertionError(errors.size() + " errors; first " + errors.peek(), errors.peek());
                throw e;
            }
            a.trimCaches();
            a.checkInvariants();
        }
    }

    /**
     * New nodes (zones of higher ids) after a thread's cache memoised its zone choice, and virtual threads whose ids
     * fall on platform threads' places in the index: each allocation lands where it asked, and PARANOID tracks all.
     */
    @Test
    void addedNodesAndVirtualThreadsGoTheRightWay() throws Exception {
        try (PageAllocator a = allocator("review-addnode", LeakDetection.PARANOID)) {
            List<Long> live = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                live.add(a.allocate(4096, AllocFlags.NONE)); // memoise node 0's zone
            }
            for (int k = 0; k < 4; k++) {
                int node = a.addNode(k % 2 == 0 ? NodeSpec.hotRemovable(8L << 20) : NodeSpec.fixed(8L << 20));
                assertEquals(io.hotmem.NodeState.ENABLED, a.status().nodes().get(node).state());
                for (int round = 0; round < 3; round++) {
                    List<Long> mine = new ArrayList<>();
                    for (int i = 0; i < 50; i++) {
                        int flags = AllocFlags.THISNODE | (k % 2 == 0 ? AllocFlags.HOTREMOVABLE : 0);
                        long h = a.allocate((1 + i % 16) * 4 * KIB, flags, node);
                        assertEquals(node, a.nodeOf(h));
                        a.setLong(h, 0, h);
                        mine.add(h);
                        long h0 = a.allocate(4096, AllocFlags.NONE);
                        assertEquals(0, a.nodeOf(h0));
                        live.add(h0);
                    }
                    for (long h : mine) {
                        assertEquals(h, a.getLong(h, 0));
                        a.free(h);
                    }
                }
            }
            AtomicInteger made = new AtomicInteger();
            try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
                for (int t = 0; t < 200; t++) {
                    pool.submit(() -> {
                        for (int i = 0; i < 10; i++) {
                            live.getClass(); // nothing shared is written
                            a.allocate((1 + i) * 4 * KIB, i % 2 == 0 ? AllocFlags.NONE : AllocFlags.HOTREMOVABLE);
                            made.incrementAndGet();
                        }
                    });
                }
            }
            a.checkInvariants();
            assertEquals(live.size() + made.get(), tracked(a));
        }
    }
}
