package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The allocator's own monitor belongs to its users: a thread that holds {@code synchronized (allocator)} (for its
 * own reasons) must not stop other threads from using the allocator.
 */
class AllocatorMonitorTest {

    private static PageAllocator build() {
        return PageAllocator.builder().name("monitor").pageSize(4096).maxOrder(6)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(4L << 20))
                .node(NodeSpec.hotRemovable(4L << 20))
                .build();
    }

    /**
     * Holds the allocator's monitor on this thread for up to 1 s while a new thread runs {@code call}; the call must
     * finish in that time.
     */
    private static void runWhileMonitorHeld(PageAllocator a, Consumer<PageAllocator> call, String what)
            throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                call.accept(a);
            } catch (Throwable e) {
                failed.set(e);
            } finally {
                done.countDown();
            }
        }, "user");
        boolean finished;
        synchronized (a) {
            t.start();
            finished = done.await(1, TimeUnit.SECONDS);
        }
        t.join(10_000);
        assertNull(failed.get(), () -> what + " failed: " + failed.get());
        assertTrue(finished, what + " on a new thread waited for a thread holding synchronized (allocator)");
    }

    @Test
    void aNewThreadsFirstAllocationDoesNotWaitForTheAllocatorsMonitor() throws Exception {
        PageAllocator a = build();
        try {
            runWhileMonitorHeld(a, x -> {
                long h = x.allocate(4096, AllocFlags.NONE);
                long m = x.allocate(8192, AllocFlags.HOTREMOVABLE);
                x.free(h);
                x.free(m);
            }, "a first allocation");
            Snapshots.check(a);
        } finally {
            a.close();
        }
    }

    @Test
    void trimCachesDoesNotWaitForTheAllocatorsMonitor() throws Exception {
        PageAllocator a = build();
        try {
            a.free(a.allocate(4096, AllocFlags.NONE)); // this thread's cache holds pages now
            runWhileMonitorHeld(a, PageAllocator::trimCaches, "trimCaches()");
        } finally {
            a.close();
        }
    }

    @Test
    void nodeTransitionsDoNotWaitForTheAllocatorsMonitor() throws Exception {
        PageAllocator a = build();
        try {
            a.free(a.allocate(4096, AllocFlags.HOTREMOVABLE, 1));
            runWhileMonitorHeld(a, x -> {
                x.disable(1);
                x.drain(1, java.time.Duration.ofSeconds(1));
                x.enable(1);
                x.status();
            }, "disable, drain, enable, status");
            Snapshots.check(a);
        } finally {
            a.close();
        }
    }
}
