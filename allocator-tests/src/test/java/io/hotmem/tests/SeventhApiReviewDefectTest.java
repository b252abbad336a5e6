package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.HotplugListener;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationProgress;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Defects found by the seventh adversarial review (the public API under concurrency and bad input). */
class SeventhApiReviewDefectTest {
    private static final long MIB = 1L << 20;

    /**
     * {@code Builder.purgeAfter} accepts any delay that is "zero or more", and the relocation timeouts document
     * {@code Duration.ofSeconds(Long.MAX_VALUE)} as "in effect no deadline"; but {@code build()} with the agent on
     * converts the delay with {@code Duration.toMillis()} (Housekeeper's constructor), which throws
     * ArithmeticException for such a delay, out of build(): an undocumented exception that names no bad value, for
     * a value the setter accepted (the {@code Math.min(..., Integer.MAX_VALUE / 2)} meant to saturate it comes after
     * the throw).
     */
    @Test
    void aVeryLongPurgeDelayBuildsAnAllocatorInsteadOfArithmeticException() {
        for (Duration forever : new Duration[] {Duration.ofSeconds(Long.MAX_VALUE),
                java.time.temporal.ChronoUnit.FOREVER.getDuration()}) {
            PageAllocator.Builder b = PageAllocator.builder().name("forever").jmx(false).purgeAfter(forever)
                    .node(NodeSpec.fixed(1 * MIB));
            PageAllocator a;
            try {
                a = b.build();
            } catch (ArithmeticException e) {
                throw new AssertionError("build() with purgeAfter(" + forever + ") threw " + e, e);
            }
            try (a) {
                long h = a.allocate(4096, 0);
                a.free(h);
            }
        }
    }

    /**
     * {@code Builder.threadCacheMaxOrder} promises "each thread keeps at most about 1 MiB per zone and order (less in
     * zones under 64 MiB)"; {@code ThreadCache.capacityFor} keeps at least 2 blocks of every cached order, so with
     * order-10 blocks (4 MiB) one idle thread keeps 8 MiB of a 64 MiB zone, and of a 16 MiB zone half of it.
     */
    @Test
    void aThreadCachesAtMostAboutOneMibPerZoneAndOrder() {
        for (long zoneBytes : new long[] {64 * MIB, 16 * MIB}) {
            try (PageAllocator a = PageAllocator.builder().name("cache-bound").backgroundThread(false).jmx(false)
                    .threadCacheMaxOrder(10).node(NodeSpec.hotRemovable(zoneBytes)).build()) {
                long h1 = a.allocate(4 * MIB, AllocFlags.HOTREMOVABLE);
                long h2 = a.allocate(4 * MIB, AllocFlags.HOTREMOVABLE);
                a.free(h1);
                a.free(h2);
                long cachedBytes = a.status().nodes().get(0).zones().get(0).cachedPages() * a.pageSize();
                assertTrue(cachedBytes <= 2 * MIB, "one thread keeps " + (cachedBytes >> 20) + " MiB of order 10 in"
                        + " its cache of a " + (zoneBytes >> 20) + " MiB zone (documented: at most about 1 MiB)");
            }
        }
    }

    /**
     * The same, made likely: a drain waiting out a pinned straggler holds the control lock, so the winner of
     * {@code markClosed} first wakes it ({@code closing.countDown()} unparks it) and only then queues for the lock;
     * a second close() that saw the allocator closed meanwhile queues first, gets the lock first, and returns at
     * once, while nothing is torn down yet.
     */
    @Test
    void aSecondCloseDuringADrainReturnsOnlyOnceTheFirstHasFinished() throws Exception {
        int rounds = 40;
        int early = 0;
        for (int round = 0; round < rounds; round++) {
            PageAllocator a = PageAllocator.builder().name("twice-drain-" + round).backgroundThread(false).jmx(false)
                    .leakDetection(io.hotmem.LeakDetection.DISABLED).node(NodeSpec.fixed(1 * MIB))
                    .node(NodeSpec.hotRemovable(1 * MIB)).build();
            long fixed = a.allocate(4096, 0, 0);
            MemorySegment seg = a.segment(fixed);
            long movable = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            Pin pin = a.pin(movable);
            CountDownLatch passed = new CountDownLatch(1);
            a.addListener(new HotplugListener() {
                @Override
                public void onProgress(RelocationProgress p) {
                    passed.countDown();
                }
            });
            a.disable(1);
            Thread drainer = new Thread(() -> {
                try {
                    a.drain(1, Duration.ofSeconds(60));
                } catch (IllegalStateException expected) {
                    // closed
                }
            }, "drainer");
            drainer.start();
            passed.await();
            Thread.sleep(5); // the drainer parks in its backoff, holding the control lock
            AtomicBoolean sawEarly = new AtomicBoolean();
            Thread second = new Thread(() -> {
                while (!a.toString().endsWith(", closed]")) {
                    Thread.onSpinWait();
                }
                a.close();
                try {
                    seg.get(JAVA_BYTE, 0);
                    sawEarly.set(true);
                } catch (IllegalStateException expected) {
                    // torn down
                }
            }, "second-closer");
            second.start();
            Thread.sleep(1);
            a.close();
            second.join(10_000);
            drainer.join(10_000);
            pin.close();
            if (sawEarly.get()) {
                early++;
            }
        }
        assertEquals(0, early, early + " of " + rounds + " second close() calls returned before the first had torn"
                + " the allocator down (a segment of its node still worked after close() returned)");
    }

    /**
     * {@code drain(node, targetNode, timeout)}: "replacement blocks preferably on targetNode (then by distance from
     * it)". With a fixed target node, {@code Relocations.drainUnderControl} takes the target's HOTREMOVABLE zonelist,
     * which lists every MOVABLE zone (of any node) before any NORMAL zone: the blocks go to another hot-removable
     * node although the target has room for all of them.
     */
    @Test
    void drainToAFixedTargetNodePutsTheBlocksOnThatNode() {
        try (PageAllocator a = PageAllocator.builder().name("drain-to-fixed").backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(8 * MIB)).node(NodeSpec.hotRemovable(8 * MIB))
                .node(NodeSpec.hotRemovable(8 * MIB)).build()) {
            long[] hs = new long[16];
            for (int i = 0; i < hs.length; i++) {
                hs[i] = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
                a.setLong(hs[i], 0, i);
            }
            a.disable(1);
            io.hotmem.RelocationReport r = a.drain(1, 0, Duration.ofSeconds(5));
            assertTrue(r.complete(), r.toString());
            int[] on = new int[3];
            for (int i = 0; i < hs.length; i++) {
                assertEquals(i, a.getLong(hs[i], 0));
                on[a.nodeOf(hs[i])]++;
            }
            assertEquals(hs.length, on[0], "drain(1, target 0) with room on node 0 put " + on[0] + " blocks on node 0 "
                    + "and " + on[2] + " on node 2");
        }
    }
}
