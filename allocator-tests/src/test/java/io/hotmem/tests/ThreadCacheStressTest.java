package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;

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
 * Stress of the thread caches' handshake (fixed seeds). Caches under disable, drain and replug are stressed in
 * {@code ConcurrentAllocationStressTest.cachesNeverServeADisabledNodeWhileItDrainsAndReplugs}.
 */
class ThreadCacheStressTest {
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
            assertTrue(trims.get() > 100, "only " + trims.get() + " trims");
            a.trimCaches();
            a.checkInvariants();
            ZoneStatus z = a.status().zone(0);
            assertEquals(z.presentPages(), z.freePages(), z.toString());
        }
    }
}
