package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Stress of the thread caches' handshake (fixed seeds): workers allocate and free small blocks (all through their
 * caches) with checked contents, while an operator disables node 2, checks that no cache holds any of its pages,
 * drains it, and then enables it again or unplugs and plugs it first. Catches a cache that hands out a block of a
 * disabled node, a block lost or shared between a cache and a drain, a stale block after a replug, and counter
 * drift (invariants checked after every step).
 */
class ThreadCacheStressTest {
    private static final int WORKERS = 3;
    private static final int OPS_PER_WORKER = 150_000;

    @Test
    void cachesNeverServeADisabledNodeWhileItDrainsAndReplugs() throws Exception {
        try (PageAllocator a = PageAllocator.builder().maxOrder(6)
                .node(NodeSpec.fixed(16L << 20).movableBytes(8L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .node(NodeSpec.hotRemovable(16L << 20))
                .build()) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong verified = new AtomicLong();
            AtomicLong cycles = new AtomicLong();
            // Odd from the return of disable(2) until just before node 2 accepts blocks again.
            AtomicLong phase = new AtomicLong();
            List<Thread> workers = new ArrayList<>();
            for (int t = 0; t < WORKERS; t++) {
                final long seed = 4000 + t;
                workers.add(Thread.ofPlatform().name("cache-worker-" + t).start(() -> {
                    try {
                        work(a, seed, phase, verified);
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            Thread operator = Thread.ofPlatform().name("cache-operator").start(() -> {
                SplittableRandom r = new SplittableRandom(11);
                try {
                    while (!stop.get()) {
                        a.disable(2);
                        phase.incrementAndGet();
                        for (ZoneStatus z : a.status().node(2).zones()) {
                            assertEquals(0, z.cachedPages(), "a cache holds pages of disabled node 2: " + z);
                        }
                        a.checkInvariants();
                        RelocationReport rep = a.drain(2, Duration.ofSeconds(10));
                        assertTrue(rep.complete(), rep.toString());
                        if (r.nextBoolean()) {
                            a.unplug(2);
                            a.checkInvariants();
                            a.plug(2);
                        }
                        a.checkInvariants();
                        phase.incrementAndGet();
                        a.enable(2);
                        cycles.incrementAndGet();
                        Thread.sleep(r.nextInt(3));
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            for (Thread w : workers) {
                w.join(120_000);
                assertTrue(!w.isAlive(), "worker did not finish");
            }
            stop.set(true);
            operator.join();
            assertNull(failure.get(), () -> "failure: " + failure.get());
            assertTrue(cycles.get() >= 5, "only " + cycles.get() + " disable/drain cycles");
            assertTrue(verified.get() > WORKERS * (long) OPS_PER_WORKER / 4, "verified " + verified.get());
            a.trimCaches();
            a.checkInvariants();
            for (var n : a.status().nodes()) {
                for (ZoneStatus z : n.zones()) {
                    assertEquals(0, z.activePages(), "all memory free at the end: " + z);
                    assertEquals(z.presentPages(), z.freePages(), z.toString());
                }
            }
        }
    }

    /**
     * The handshake at its tightest: owners allocate and free without pause while another thread takes their
     * caches back as fast as it can. A stealer that took blocks from an owner still inside an operation would give
     * a block back twice or hand one to two allocations: the buddy allocator's checks and the contents catch both.
     */
    @Test
    void trimmingWhileOwnersAllocateLosesAndSharesNothing() throws Exception {
        try (PageAllocator a = PageAllocator.builder().backgroundThread(false)
                .node(NodeSpec.hotRemovable(32L << 20)).build()) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong trims = new AtomicLong();
            List<Thread> owners = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                final long seed = 7000 + t;
                owners.add(Thread.ofPlatform().name("owner-" + t).start(() -> {
                    try {
                        SplittableRandom r = new SplittableRandom(seed);
                        long[] hs = new long[4];
                        for (int i = 0; i < 1_500_000 && failure.get() == null; i++) {
                            int k = r.nextInt(hs.length);
                            if (hs[k] == 0) {
                                hs[k] = a.allocate(4096 << r.nextInt(2), AllocFlags.HOTREMOVABLE);
                                a.setLong(hs[k], 0, hs[k]);
                            } else {
                                if (a.getLong(hs[k], 0) != hs[k]) {
                                    throw new AssertionError("block of 0x" + Long.toHexString(hs[k]) + " shared");
                                }
                                a.free(hs[k]);
                                hs[k] = 0;
                            }
                        }
                        for (long h : hs) {
                            if (h != 0) {
                                a.free(h);
                            }
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            Thread stealer = Thread.ofPlatform().name("stealer").start(() -> {
                try {
                    while (!stop.get()) {
                        a.trimCaches();
                        trims.incrementAndGet();
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            for (Thread o : owners) {
                o.join();
            }
            stop.set(true);
            stealer.join();
            assertNull(failure.get(), () -> "failure: " + failure.get());
            assertTrue(trims.get() > 1000, "only " + trims.get() + " trims");
            a.trimCaches();
            a.checkInvariants();
            ZoneStatus z = a.status().zone(0);
            assertEquals(z.presentPages(), z.freePages(), z.toString());
        }
    }

    private static void work(PageAllocator a, long seed, AtomicLong phase, AtomicLong verified) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] handles = new long[96];
        long[] tags = new long[96];
        for (int i = 0; i < OPS_PER_WORKER; i++) {
            int k = r.nextInt(handles.length);
            if (handles[k] == 0) {
                long size = 8 + r.nextInt(64 * 1024 - 8); // orders 0..4: all through the caches
                int flags = r.nextInt(4) == 0 ? AllocFlags.NONE : AllocFlags.HOTREMOVABLE;
                int node = r.nextInt(3);
                long before = phase.get();
                long h = a.tryAllocate(size, flags, node);
                if (h == PageAllocator.NULL_HANDLE) {
                    continue;
                }
                if ((before & 1) == 1 && phase.get() == before && a.nodeOf(h) == 2) {
                    throw new AssertionError("block handed out by disabled node 2: 0x" + Long.toHexString(h));
                }
                long tag = r.nextLong();
                a.setLong(h, 0, tag);
                if (size >= 16) {
                    a.setLong(h, (size - 8) & ~7L, tag ^ size);
                }
                handles[k] = h;
                tags[k] = tag;
            } else {
                long h = handles[k];
                long size = a.sizeOf(h);
                if (a.getLong(h, 0) != tags[k] || (size >= 16 && a.getLong(h, (size - 8) & ~7L) != (tags[k] ^ size))) {
                    throw new AssertionError("0x" + Long.toHexString(h) + " was overwritten: lost or shared");
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
