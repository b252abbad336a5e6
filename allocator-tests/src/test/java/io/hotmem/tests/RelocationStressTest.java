package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Stress, not a benchmark: application threads read and write allocations through their handles while an
 * operator thread drains the hot-removable nodes back and forth (disable, drain, enable; offline, plug, enable;
 * remap). Fixed seeds; invariants checked by a third thread. Duration per test: {@code -Dhotmem.stress.seconds}
 * (default 3).
 */
class RelocationStressTest {
    private static final long SECONDS = Long.getLong("hotmem.stress.seconds", 3);
    private static final Duration DRAIN_DEADLINE = Duration.ofSeconds(20);

    private static PageAllocator allocator() {
        return PageAllocator.builder().name("stress").maxOrder(6)
                .node(NodeSpec.fixed(16L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .build();
    }

    /** Runs {@code workers}, an operator moving everything back and forth, and an invariant checker. */
    private static void run(PageAllocator a, List<Consumer<AtomicBoolean>> workers, AtomicLong moves)
            throws InterruptedException {
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < workers.size(); i++) {
            Consumer<AtomicBoolean> w = workers.get(i);
            threads.add(Thread.ofPlatform().name("worker-" + i).start(() -> {
                try {
                    w.accept(stop);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    stop.set(true);
                }
            }));
        }
        threads.add(Thread.ofPlatform().name("operator").start(() -> {
            SplittableRandom r = new SplittableRandom(42);
            try {
                while (!stop.get()) {
                    int node = 1 + r.nextInt(2);
                    RelocationReport rep;
                    switch (r.nextInt(4)) {
                        case 0 -> {
                            rep = a.offline(node, DRAIN_DEADLINE);
                            if (rep.complete()) {
                                a.plug(node);
                                a.enable(node);
                            }
                        }
                        case 1 -> rep = a.remap(node, DRAIN_DEADLINE); // zone id == node id here
                        default -> {
                            a.disable(node);
                            rep = a.drain(node, DRAIN_DEADLINE);
                            a.enable(node);
                        }
                    }
                    if (!rep.complete()) {
                        throw new AssertionError("short pins must not stop a drain: " + rep);
                    }
                    moves.addAndGet(rep.moved());
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
                stop.set(true);
            }
        }));
        threads.add(Thread.ofPlatform().name("checker").start(() -> {
            try {
                while (!stop.get()) {
                    Snapshots.check(a);
                    Thread.sleep(2);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
                stop.set(true);
            }
        }));
        long end = System.nanoTime() + SECONDS * 1_000_000_000L;
        while (!stop.get() && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        stop.set(true);
        for (Thread t : threads) {
            t.join(60_000);
            assertTrue(!t.isAlive(), t.getName() + " did not stop");
        }
        assertNull(failure.get(), () -> "failure: " + stackTrace(failure.get()));
    }

    private static String stackTrace(Throwable t) {
        var sw = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(sw));
        return sw.toString();
    }

    private static void assertAllFree(PageAllocator a) {
        a.checkInvariants();
        for (var n : a.status().nodes()) {
            assertEquals(NodeState.ENABLED, n.state(), "node " + n.id());
            for (ZoneStatus z : n.zones()) {
                assertEquals(0, z.activePages(), "all memory free at the end: " + z);
            }
        }
    }

    /**
     * Each writer owns its handles and increments counters in them (through get/set, through a pin with yields
     * inside, and through copyTo/copyFrom), while everything moves. Every counter must end equal to the number of
     * increments its owner made: no write is lost.
     */
    @Test
    void noIncrementIsLostWhileNodesDrainBackAndForth() throws Exception {
        try (PageAllocator a = allocator()) {
            int writers = 3;
            int perWriter = 48;
            int counters = 4;
            long[][] handles = new long[writers][perWriter];
            long[][][] expected = new long[writers][perWriter][counters];
            AtomicLong moves = new AtomicLong();
            AtomicLong increments = new AtomicLong();
            List<Consumer<AtomicBoolean>> workers = new ArrayList<>();
            for (int w = 0; w < writers; w++) {
                final int id = w;
                SplittableRandom setup = new SplittableRandom(100 + w);
                for (int i = 0; i < perWriter; i++) {
                    handles[w][i] = a.allocate(64 + setup.nextInt(20_000), AllocFlags.HOTREMOVABLE | AllocFlags.ZERO,
                            1 + setup.nextInt(2));
                }
                workers.add(stop -> {
                    SplittableRandom r = new SplittableRandom(200 + id);
                    try (var arena = java.lang.foreign.Arena.ofConfined()) {
                        var buf = arena.allocate(8);
                        while (!stop.get()) {
                            int i = r.nextInt(perWriter);
                            int k = r.nextInt(counters);
                            long h = handles[id][i];
                            long off = (a.sizeOf(h) / counters * k) & ~7L;
                            switch (r.nextInt(4)) {
                                case 0 -> {
                                    try (Pin p = a.pin(h)) {
                                        long v = p.getLong(off);
                                        if (r.nextInt(16) == 0) {
                                            Thread.yield();
                                        }
                                        p.setLong(off, v + 1);
                                    }
                                }
                                case 1 -> {
                                    a.copyTo(h, off, buf, 0, 8);
                                    buf.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0,
                                            buf.get(java.lang.foreign.ValueLayout.JAVA_LONG, 0) + 1);
                                    a.copyFrom(buf, 0, h, off, 8);
                                }
                                default -> a.setLong(h, off, a.getLong(h, off) + 1);
                            }
                            expected[id][i][k]++;
                            increments.incrementAndGet();
                        }
                    }
                });
            }
            run(a, workers, moves);
            for (int w = 0; w < writers; w++) {
                for (int i = 0; i < perWriter; i++) {
                    long h = handles[w][i];
                    for (int k = 0; k < counters; k++) {
                        long off = (a.sizeOf(h) / counters * k) & ~7L;
                        assertEquals(expected[w][i][k], a.getLong(h, off),
                                "counter " + k + " of 0x" + Long.toHexString(h));
                    }
                    a.free(h);
                }
            }
            System.out.println("[stress] counters: " + increments.get() + " increments, " + moves.get()
                    + " blocks moved, 0 lost");
            assertTrue(moves.get() > 0, "nothing moved");
            assertAllFree(a);
        }
    }

    /**
     * Writers store self-checking values under a pin (x in the high half, ~x in the low half, x naming the handle
     * and a sequence number) with yields inside the pin; optimistic readers check every value they accept: never
     * torn, never from another allocation, never older than one they saw before. Meanwhile other threads allocate,
     * verify and free blocks on the draining nodes (frees racing with moves).
     */
    @Test
    void optimisticReadersNeverAcceptATornStaleOrForeignValue() throws Exception {
        try (PageAllocator a = allocator()) {
            int shared = 64;
            int slots = 8;
            long[] handles = new long[shared];
            for (int i = 0; i < shared; i++) {
                handles[i] = a.allocate(8 * slots + i * 97, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, 1 + (i & 1));
            }
            AtomicLong moves = new AtomicLong();
            AtomicLong accepted = new AtomicLong();
            AtomicLong churned = new AtomicLong();
            List<Consumer<AtomicBoolean>> workers = new ArrayList<>();
            // One writer per half of the handles, so each (handle, slot) has a single writer and rising sequence.
            for (int w = 0; w < 2; w++) {
                final int first = w * shared / 2;
                workers.add(stop -> {
                    SplittableRandom r = new SplittableRandom(300 + first);
                    long[] seq = new long[shared * slots];
                    while (!stop.get()) {
                        int i = first + r.nextInt(shared / 2);
                        int s = r.nextInt(slots);
                        long x = ((long) i << 24) | (++seq[i * slots + s] & 0xFF_FFFFL);
                        try (Pin p = a.pin(handles[i])) {
                            if (r.nextInt(64) == 0) {
                                Thread.yield();
                            }
                            p.setLong(8L * s, (x << 32) | (~x & 0xFFFF_FFFFL));
                        }
                    }
                });
            }
            for (int rd = 0; rd < 2; rd++) {
                final int seed = rd;
                workers.add(stop -> {
                    SplittableRandom r = new SplittableRandom(400 + seed);
                    long[] seen = new long[shared * slots];
                    while (!stop.get()) {
                        int i = r.nextInt(shared);
                        int s = r.nextInt(slots);
                        long v = a.getLong(handles[i], 8L * s);
                        if (v == 0) {
                            continue; // not written yet
                        }
                        long x = v >>> 32;
                        if ((int) x != ~(int) v) {
                            throw new AssertionError("torn value 0x" + Long.toHexString(v) + " in handle " + i);
                        }
                        if ((x >>> 24) != i) {
                            throw new AssertionError("value of handle " + (x >>> 24) + " read from handle " + i);
                        }
                        long sq = x & 0xFF_FFFFL;
                        if (sq < seen[i * slots + s]) {
                            throw new AssertionError("handle " + i + " slot " + s + " went back from sequence "
                                    + seen[i * slots + s] + " to " + sq);
                        }
                        seen[i * slots + s] = sq;
                        accepted.incrementAndGet();
                    }
                });
            }
            workers.add(stop -> {
                SplittableRandom r = new SplittableRandom(500);
                long[] mine = new long[32];
                while (!stop.get()) {
                    int k = r.nextInt(mine.length);
                    if (mine[k] == 0) {
                        long h = a.tryAllocate(16 + r.nextInt(30_000), AllocFlags.HOTREMOVABLE, r.nextInt(3));
                        if (h != PageAllocator.NULL_HANDLE) {
                            a.setLong(h, 0, h);
                            a.setLong(h, a.sizeOf(h) - 8, ~h);
                            mine[k] = h;
                        }
                    } else {
                        long h = mine[k];
                        if (a.getLong(h, 0) != h || a.getLong(h, a.sizeOf(h) - 8) != ~h) {
                            throw new AssertionError("churn block 0x" + Long.toHexString(h) + " lost its data");
                        }
                        a.free(h);
                        mine[k] = 0;
                        churned.incrementAndGet();
                    }
                }
                for (long h : mine) {
                    if (h != 0) {
                        a.free(h);
                    }
                }
            });
            run(a, workers, moves);
            System.out.println("[stress] optimistic readers: " + accepted.get() + " values accepted, "
                    + churned.get() + " churn frees, " + moves.get() + " blocks moved, 0 violations");
            assertTrue(accepted.get() > 1000, "readers accepted only " + accepted.get());
            for (long h : handles) {
                a.free(h);
            }
            assertAllFree(a);
        }
    }
}
