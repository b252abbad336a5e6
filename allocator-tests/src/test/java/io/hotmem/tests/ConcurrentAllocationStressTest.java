package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Stress, not a benchmark: threads allocate, write a pattern, verify it and free, while an operator thread takes
 * node 2 out of service and back again and a checker snapshots status and invariants. Fixed seeds. Catches lost
 * or shared blocks (a pattern overwritten by another thread), blocks handed out by a disabled node (from any path,
 * thread caches included), and counter drift.
 */
class ConcurrentAllocationStressTest {

    /** What the operator does while node 2 is disabled. */
    private interface WhileDisabled {
        void run(PageAllocator a, SplittableRandom r) throws Exception;
    }

    @Test
    void allocateWriteVerifyFreeWhileNodesFlip() throws Exception {
        try (PageAllocator a = PageAllocator.builder().maxOrder(6)
                .node(NodeSpec.fixed(16L << 20).movableBytes(4L << 20))
                .node(NodeSpec.hotRemovable(8L << 20))
                .node(NodeSpec.hotRemovable(8L << 20))
                .build()) {
            stress(a, 4, 40_000, 3 * 4096, (x, r) -> Thread.sleep(r.nextInt(3)));
        }
    }

    /**
     * Small blocks only (all through the thread caches): node 2 is disabled, no cache may then hold any of its
     * pages, it is drained (completely: nothing is pinned for long), and unplugged and plugged again half the time.
     */
    @Test
    void cachesNeverServeADisabledNodeWhileItDrainsAndReplugs() throws Exception {
        try (PageAllocator a = PageAllocator.builder().maxOrder(6)
                .node(NodeSpec.fixed(16L << 20).movableBytes(8L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .build()) {
            long cycles = stress(a, 3, 40_000, 64 * 1024, (x, r) -> {
                for (ZoneStatus z : x.status().node(2).zones()) {
                    assertEquals(0, z.cachedPages(), "a cache holds pages of disabled node 2: " + z);
                }
                x.checkInvariants();
                RelocationReport rep = x.drain(2, Duration.ofSeconds(10));
                assertTrue(rep.complete(), rep.toString());
                if (r.nextBoolean()) {
                    x.unplug(2);
                    x.checkInvariants();
                    x.plug(2);
                }
                x.checkInvariants();
            });
            assertTrue(cycles >= 5, "only " + cycles + " disable/drain cycles");
        }
    }

    /**
     * Runs {@code threads} workers of {@code ops} operations each (sizes 8 to {@code maxSize} bytes), an operator that
     * disables node 2, runs {@code whileDisabled} and enables it again until the workers are done, and a checker.
     *
     * @return how many times the operator disabled node 2
     */
    private static long stress(PageAllocator a, int threads, int ops, int maxSize, WhileDisabled whileDisabled)
            throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong verified = new AtomicLong();
        AtomicLong cycles = new AtomicLong();
        // phase is odd from the return of disable(2) until just before enable(2): an allocation that starts and ends
        // within one odd phase must not land on node 2.
        AtomicLong phase = new AtomicLong();
        CountDownLatch done = new CountDownLatch(threads);
        for (int t = 0; t < threads; t++) {
            final long seed = 1000 + t;
            Thread.ofPlatform().name("worker-" + t).start(() -> {
                try {
                    work(a, seed, ops, maxSize, phase, verified);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            });
        }
        Thread operator = Thread.ofPlatform().name("operator").start(() -> {
            SplittableRandom r = new SplittableRandom(7);
            try {
                while (!stop.get()) {
                    a.disable(2);
                    phase.incrementAndGet();
                    whileDisabled.run(a, r);
                    phase.incrementAndGet();
                    a.enable(2);
                    cycles.incrementAndGet();
                    Thread.sleep(r.nextInt(3));
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        });
        Thread checker = Thread.ofPlatform().name("checker").start(() -> {
            try {
                while (!stop.get()) {
                    Snapshots.check(a);
                    Thread.sleep(1);
                }
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        });
        assertTrue(done.await(120, TimeUnit.SECONDS), "workers did not finish");
        stop.set(true);
        operator.join();
        checker.join();
        assertNull(failure.get(), () -> "failure: " + failure.get());
        assertTrue(verified.get() > threads * (long) ops / 4, "verified " + verified.get());
        a.trimCaches();
        a.checkInvariants();
        for (var n : a.status().nodes()) {
            for (ZoneStatus z : n.zones()) {
                assertEquals(0, z.activePages(), "all memory free at the end: " + z);
                assertEquals(z.presentPages(), z.freePages(), z.toString());
            }
        }
        return cycles.get();
    }

    private static void work(PageAllocator a, long seed, int ops, int maxSize, AtomicLong phase,
                             AtomicLong verified) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] handles = new long[64];
        long[] tags = new long[64];
        for (int i = 0; i < ops; i++) {
            int k = r.nextInt(handles.length);
            if (handles[k] == 0) {
                long size = 8 + r.nextInt(maxSize - 8);
                int flags = r.nextBoolean() ? AllocFlags.HOTREMOVABLE : AllocFlags.NONE;
                long before = phase.get();
                long h = a.tryAllocate(size, flags, r.nextInt(3));
                if (h == PageAllocator.NULL_HANDLE) {
                    continue;
                }
                if ((before & 1) == 1 && phase.get() == before && a.nodeOf(h) == 2) {
                    throw new AssertionError("block handed out by disabled node 2: 0x" + Long.toHexString(h));
                }
                long tag = r.nextLong();
                for (long off = 0; off + 8 <= size; off += 512) {
                    a.setLong(h, off, tag ^ off);
                }
                a.setLong(h, size - 8, tag);
                handles[k] = h;
                tags[k] = tag;
            } else {
                long h = handles[k];
                long size = a.sizeOf(h);
                for (long off = 0; off + 8 <= size; off += 512) {
                    long v = a.getLong(h, off);
                    if (off + 8 <= size - 8 && v != (tags[k] ^ off)) {
                        throw new AssertionError("0x" + Long.toHexString(h) + " at " + off + ": " + v);
                    }
                }
                if (a.getLong(h, size - 8) != tags[k]) {
                    throw new AssertionError("0x" + Long.toHexString(h) + " tail overwritten");
                }
                verified.incrementAndGet();
                a.free(h);
                handles[k] = 0;
            }
        }
        for (long h : handles) {
            if (h != 0) {
                a.free(h);
            }
        }
    }
}
