package io.hotmem.internal;

import io.hotmem.LeakDetection;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Field;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Drives the real {@code Allocation#freeParanoid} into its window between the free's two scope closes (the fifth
 * and sixth reviews' harness): the freeing thread is held at the first close (the record's monitor), then kept
 * spinning in the free's CAS loop by a MOVING bit set on the entry (as a descheduled thread would stand there; a
 * non-movable entry never really goes MOVING), while the test does what a racing thread would.
 */
final class ParanoidFreeWindow {
    static final long WAIT_NANOS = 3_000_000_000L;

    private final AtomicReference<Throwable> lastFreeFailure = new AtomicReference<>();

    /** What {@link #stopAfterFirstClose} stopped: {@link #resume} lets the free go on. */
    record Stopped(Object record, long[] chunk, int base, long frozen) {
        void resume() {
            assertTrue(HandleTable.casState(chunk, base, frozen, frozen & ~HandleLayout.MOVING));
        }
    }

    /** A PARANOID allocator of two fixed nodes of 4 MiB (zones 0 and 1), no agent. */
    static PageAllocator twoNodes(String name) {
        return PageAllocator.builder().name(name).pageSize(4096).maxOrder(10).backgroundThread(false).jmx(false)
                .leakDetection(LeakDetection.PARANOID)
                .node(NodeSpec.fixed(4L << 20))
                .node(NodeSpec.fixed(4L << 20))
                .build();
    }

    /** @return what the last free of {@link #freer} threw, or null */
    Throwable lastFreeFailure() {
        return lastFreeFailure.get();
    }

    /** A daemon thread (not started) that frees {@code h}, keeping what it throws. */
    Thread freer(PageAllocator a, long h) {
        lastFreeFailure.set(null);
        Thread freer = new Thread(() -> {
            try {
                a.free(h);
            } catch (Throwable e) {
                lastFreeFailure.set(e);
            }
        }, "paranoid-freer");
        freer.setDaemon(true);
        return freer;
    }

    /** Starts {@code freer} (of {@code h}) and stops it after the free's first scope close, before its CAS. */
    static Stopped stopAfterFirstClose(PageAllocator a, long h, Thread freer) throws Exception {
        AllocatorContext ctx = field(a, DefaultPageAllocator.class, "ctx");
        Map<Long, ?> allocations = field(ctx.leaks, LeakDetector.class, "allocations");
        Object record = allocations.get(h);
        assertNotNull(record, "precondition: the allocation is tracked");
        long[] c = ctx.table.chunk(h);
        int base = HandleLayout.base(h);
        long frozen;
        synchronized (record) {
            freer.start();
            awaitInStack(freer, "beforeFree", Thread.State.BLOCKED);
            long s = HandleTable.lvState(c, base);
            frozen = s | HandleLayout.MOVING;
            assertTrue(HandleTable.casState(c, base, s, frozen));
        }
        awaitInStack(freer, "freeContended", null); // the first close done, the free spins on the MOVING bit
        return new Stopped(record, c, base, frozen);
    }

    /**
     * {@code a.free(h)} on another thread, with a {@code segment(h)} taken between its two scope closes and put
     * into a blocking write; returns once the free returned (or threw: {@link #lastFreeFailure}), the write still
     * blocked. Closing the result ends the write.
     */
    HeldInIo freeWithSegmentTakenInTheWindow(PageAllocator a, long h) throws Exception {
        AllocatorContext ctx = field(a, DefaultPageAllocator.class, "ctx");
        MemorySegment scopedBefore = a.segment(h);
        MemorySegment raw = MemorySegment.ofAddress(scopedBefore.address()).reinterpret(scopedBefore.byteSize());
        Thread freer = freer(a, h);
        Stopped stopped = stopAfterFirstClose(a, h, freer);
        MemorySegment inWindow = ctx.leaks.scoped(h, raw);
        assertNotNull(inWindow, "segment(h) between the free's two closes");
        HeldInIo io = HeldInIo.start(inWindow);
        stopped.resume();
        freer.join(TimeUnit.SECONDS.toMillis(5));
        assertFalse(freer.isAlive(), "the free did not return");
        return io;
    }

    /** @return zone {@code zone}'s active pages once they reach {@code want} (caches trimmed), or the last seen */
    static long awaitActivePages(PageAllocator a, int zone, long want) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (true) {
            a.trimCaches();
            long active = a.status().zone(zone).activePages();
            if (active == want || System.nanoTime() > deadline) {
                return active;
            }
            Thread.sleep(20);
        }
    }

    /** Waits until {@code t}'s stack has a frame of {@code method} (and, unless null, it is in {@code state}). */
    static void awaitInStack(Thread t, String method, Thread.State state) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (true) {
            boolean in = false;
            for (StackTraceElement e : t.getStackTrace()) {
                if (e.getMethodName().equals(method)) {
                    in = true;
                    break;
                }
            }
            if (in && (state == null || t.getState() == state)) {
                return;
            }
            if (System.nanoTime() > deadline) {
                fail(t.getName() + " never reached " + method + " (" + t.getState() + ")");
            }
            Thread.sleep(1);
        }
    }

    @SuppressWarnings("unchecked")
    static <T> T field(Object o, Class<?> c, String name) throws Exception {
        Field f = c.getDeclaredField(name);
        f.setAccessible(true);
        return (T) f.get(o);
    }
}
