package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.PageAllocatorMXBean;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Defects found by the third adversarial review (branch review-c), each failing against e209b5d.
 */
class ThirdReviewDefectTest {
    private static final long MIB = 1L << 20;
    private static final int PAGE = 4096;

    /** Runs {@code body} on this thread with its interrupt flag set, and clears the flag after. */
    private static long interrupted(java.util.function.LongSupplier body) {
        Thread.currentThread().interrupt();
        try {
            return body.getAsLong();
        } finally {
            boolean still = Thread.interrupted();
            assertTrue(still, "the allocation cleared the caller's interrupt flag");
        }
    }

    /**
     * An elastic allocator whose only ENABLED node is full plugs the next hot-removable node for an allocation
     * (README "Elastic"). The same allocation from a thread whose interrupt flag is set (a pool thread being shut
     * down, a task that was cancelled) fails instead: {@code Governor.grow} takes the control lock with
     * {@code ReentrantLock.tryLock(50, MILLISECONDS)}, which throws InterruptedException at once for an interrupted
     * thread even when the lock is free; {@code NodeLifecycle.tryLock} turns that into "busy", so no node is plugged
     * and the caller gets AllocationFailedException although memory was there to be had. allocate() documents no
     * interrupt behaviour; the flag should not change what an allocation can do.
     */
    @Test
    void anInterruptedThreadsAllocationStillGrowsAnElasticAllocator() {
        try (PageAllocator a = elasticWithNode1Unplugged("rc-elastic-interrupt")) {
            List<Long> fill = fillNode0(a);
            assertEquals(NodeState.UNPLUGGED, a.status().node(1).state());
            long got;
            try {
                got = interrupted(() -> a.allocate(16 * PAGE, AllocFlags.HOTREMOVABLE));
            } catch (AllocationFailedException e) {
                fail("an allocation from an interrupted thread did not plug the unplugged hot-removable node 1 of an "
                        + "elastic allocator (node 1 is " + a.status().node(1).state() + "): " + e.getMessage(), e);
                return;
            }
            assertEquals(1, a.nodeOf(got));
            a.free(got);
            for (long f : fill) {
                a.free(f);
            }
        }
    }

    /**
     * An allocation of order >= 1 that finds enough free pages but no block large enough compacts the zone first
     * (direct compaction, README "Compaction"). From an interrupted thread it does not: {@code Compactor
     * .compactCounted} treats the caller's interrupt flag as a stop request (FailureReason.INTERRUPTED) before the
     * first batch, so the DIRECT compaction moves nothing, {@code compactFor} reports no block, and the allocation
     * fails with AllocationFailedException while half the zone is free. (For {@code compact}, {@code drain} and
     * {@code offline} an interrupt is a documented reason to stop; an allocation has no such contract and no report
     * to say so.) The failure also defers compaction of the zone for a second, so other threads' allocations fail too.
     */
    @Test
    void anInterruptedThreadsAllocationStillCompactsAFragmentedZone() {
        try (PageAllocator a = PageAllocator.builder().name("rc-compact-interrupt").pageSize(PAGE).maxOrder(4)
                .backgroundThread(false).threadCacheMaxOrder(-1)
                .node(NodeSpec.hotRemovable(MIB))
                .build()) {
            fragmentEveryOtherPage(a);
            assertEquals(0, a.status().zone(0).largestFreeOrder(), "the zone should be fragmented: "
                    + a.status().zone(0).freeBlocks());
            long got;
            try {
                got = interrupted(() -> a.allocate(2 * PAGE, AllocFlags.HOTREMOVABLE));
            } catch (AllocationFailedException e) {
                fail("an order-1 allocation from an interrupted thread failed with " + a.status().zone(0).freePages()
                        + " of " + a.status().zone(0).presentPages() + " pages free (direct compaction did not run): "
                        + e.getMessage(), e);
                return;
            }
            a.free(got);
        }
    }

    /**
     * The consequence of the interrupted direct compaction above for every other thread: the interrupted attempt
     * counts as a failed direct compaction, so {@code Compactor.compactCounted} sets the zone's
     * {@code compactDeferredUntil} one second ahead, and an allocation of the same order from a thread that was
     * never interrupted, right after, fails as well (its direct compaction skips the deferred zone) although half
     * the zone is free and an uninterrupted compaction would have served it.
     */
    @Test
    void anInterruptedThreadsFailedAllocationDoesNotMakeOtherThreadsAllocationsFail() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("rc-compact-defer").pageSize(PAGE).maxOrder(4)
                .backgroundThread(false).threadCacheMaxOrder(-1)
                .node(NodeSpec.hotRemovable(MIB))
                .build()) {
            fragmentEveryOtherPage(a);
            long first = interrupted(() -> a.tryAllocate(2 * PAGE, AllocFlags.HOTREMOVABLE, 0));
            long[] other = new long[1];
            Thread t = new Thread(() -> other[0] = a.tryAllocate(2 * PAGE, AllocFlags.HOTREMOVABLE, 0), "never-interrupted");
            t.start();
            t.join(5_000);
            assertTrue(other[0] != PageAllocator.NULL_HANDLE, "an order-1 allocation on a thread that was never "
                    + "interrupted failed right after an interrupted thread's one (" + (first == PageAllocator.NULL_HANDLE
                    ? "which failed" : "which succeeded") + "), with " + a.status().zone(0).freePages() + " of "
                    + a.status().zone(0).presentPages() + " pages free: " + a.status().zone(0).freeBlocks());
        }
    }

    /**
     * The MXBean's relocation operations take a deadline in milliseconds ({@code long timeoutMillis}), which it turns
     * into a {@link io.hotmem.HotplugCommands} line, whose parser refuses more than one day. Found: that limit was
     * documented nowhere on the MXBean (only "deadline"), and a two-day deadline failed with a message about
     * 172800.000 seconds followed by the whole command usage. Now the limit is the MXBean's documented
     * {@link PageAllocatorMXBean#MAX_TIMEOUT_MILLIS}: one day is accepted, beyond it and below zero each operation
     * throws IllegalArgumentException naming the milliseconds and does nothing.
     */
    @Test
    void theMxBeanDeadlineLimitIsDocumentedAndItsRefusalNamesMilliseconds() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("rc-mxbean-deadline").pageSize(PAGE).maxOrder(4)
                .backgroundThread(false).jmx(true)
                .node(NodeSpec.fixed(MIB))
                .node(NodeSpec.hotRemovable(MIB))
                .build()) {
            PageAllocatorMXBean bean = javax.management.JMX.newMXBeanProxy(
                    java.lang.management.ManagementFactory.getPlatformMBeanServer(),
                    new javax.management.ObjectName("io.hotmem:type=PageAllocator,name=rc-mxbean-deadline"),
                    PageAllocatorMXBean.class);
            long h = a.allocate(4096, io.hotmem.AllocFlags.HOTREMOVABLE, 1);
            a.disable(1);
            String before = a.status().render();
            for (long bad : new long[] {2L * 86_400_000L, PageAllocatorMXBean.MAX_TIMEOUT_MILLIS + 1, -1}) {
                for (java.util.function.LongFunction<String> op : List.<java.util.function.LongFunction<String>>of(
                        ms -> bean.drain(1, ms), ms -> bean.offline(1, ms), ms -> bean.remap(1, ms),
                        ms -> bean.compact(0, ms))) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> op.apply(bad));
                    assertTrue(e.getMessage().startsWith("timeoutMillis " + bad + " must be from 0 to 86400000"),
                            e.getMessage());
                }
            }
            assertEquals(before, a.status().render(), "a refused deadline changes nothing");
            String report = bean.drain(1, PageAllocatorMXBean.MAX_TIMEOUT_MILLIS);
            assertTrue(report.contains("complete"), report);
            a.free(h);
        }
    }

    /** Fills node 0's only zone with single movable pages, then frees every other one: half free, no order-1 block. */
    static void fragmentEveryOtherPage(PageAllocator a) {
        List<Long> all = new ArrayList<>();
        long h;
        while ((h = a.tryAllocate(PAGE, AllocFlags.HOTREMOVABLE, 0)) != PageAllocator.NULL_HANDLE) {
            all.add(h);
        }
        for (int i = 0; i < all.size(); i += 2) {
            a.free(all.get(i));
        }
    }

    /** An elastic allocator: node 0 fixed, node 1 hot-removable and unplugged, no thread caches. */
    static PageAllocator elasticWithNode1Unplugged(String name) {
        return PageAllocator.builder().name(name).pageSize(PAGE).maxOrder(4)
                .backgroundThread(false).threadCacheMaxOrder(-1).elastic(true)
                .node(NodeSpec.fixed(MIB))
                .node(NodeSpec.hotRemovable(MIB).startUnplugged())
                .build();
    }

    /** Fills node 0 with non-movable 64 KiB blocks. @return their handles */
    static List<Long> fillNode0(PageAllocator a) {
        List<Long> fill = new ArrayList<>();
        long h;
        while ((h = a.tryAllocate(16 * PAGE, AllocFlags.NONE, 0)) != PageAllocator.NULL_HANDLE) {
            fill.add(h);
        }
        return fill;
    }
}
