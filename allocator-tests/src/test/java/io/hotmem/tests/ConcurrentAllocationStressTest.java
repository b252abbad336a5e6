package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
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
 * Stress, not a benchmark: threads allocate, write a pattern, verify it and free, while an operator thread disables
 * and enables nodes and a checker snapshots status and invariants. Fixed seeds. Catches lost or shared blocks (a
 * pattern overwritten by another thread), blocks handed out by disabled nodes, and counter drift.
 */
class ConcurrentAllocationStressTest {
    private static final int THREADS = 4;
    private static final int OPS_PER_THREAD = 40_000;

    @Test
    void allocateWriteVerifyFreeWhileNodesFlip() throws Exception {
        try (PageAllocator a = PageAllocator.builder().maxOrder(6)
                .node(NodeSpec.fixed(16L << 20).movableBytes(4L << 20))
                .node(NodeSpec.hotRemovable(8L << 20))
                .node(NodeSpec.hotRemovable(8L << 20))
                .build()) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong verified = new AtomicLong();
            // Node 2 is disabled for windows of time. phase is odd from the return of disable(2) until just before
            // enable(2): an allocation that starts and ends within one odd phase must not land on node 2.
            AtomicLong phase = new AtomicLong();
            CountDownLatch done = new CountDownLatch(THREADS);
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                final long seed = 1000 + t;
                threads.add(Thread.ofPlatform().name("worker-" + t).start(() -> {
                    try {
                        work(a, seed, phase, verified);
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    } finally {
                        done.countDown();
                    }
                }));
            }
            Thread operator = Thread.ofPlatform().name("operator").start(() -> {
                SplittableRandom r = new SplittableRandom(7);
                try {
                    while (!stop.get()) {
                        a.disable(2);
                        phase.incrementAndGet();
                        Thread.sleep(r.nextInt(3));
                        phase.incrementAndGet();
                        a.enable(2);
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
            assertTrue(verified.get() > THREADS * (long) OPS_PER_THREAD / 4, "verified " + verified.get());
            a.checkInvariants();
            for (var n : a.status().nodes()) {
                assertTrue(n.state() == NodeState.ENABLED || n.id() == 2);
                for (ZoneStatus z : n.zones()) {
                    assertEquals(0, z.activePages(), "all memory free at the end: " + z);
                }
            }
        }
    }

    private static void work(PageAllocator a, long seed, AtomicLong phase, AtomicLong verified) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] handles = new long[64];
        long[] tags = new long[64];
        for (int i = 0; i < OPS_PER_THREAD; i++) {
            int k = r.nextInt(handles.length);
            if (handles[k] == 0) {
                long size = 8 + r.nextInt(3 * 4096);
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
