package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link AllocFlags#ZERO} means every byte of the allocation reads zero when it is handed out, also when the block
 * is moved (remap, drain) between being taken and being handed out. Each block is filled with garbage before it is
 * freed, so a reused block that was not zeroed (or zeroed at a location it no longer has) shows. Thread caches are
 * on (the default): the fast path is the one under test.
 */
class ZeroUnderRelocationTest {
    private static final long RUN_NANOS = TimeUnit.MILLISECONDS.toNanos(2_000);
    private static final int MAX_BYTES = 64 * 1024;
    /** Live allocations kept at once, so that each remap has something to move besides the newest block. */
    private static final int WINDOW = 16;

    private static PageAllocator.Builder builder() {
        return PageAllocator.builder().name("zero-reloc").pageSize(4096).maxOrder(6)
                .backgroundThread(false).jmx(false);
    }

    /** A 64 KiB segment of zeros to compare against. */
    private static final MemorySegment ZEROS = Arena.global().allocate(MAX_BYTES);

    /** What the allocating thread saw. */
    private static final class Tally {
        final AtomicLong allocations = new AtomicLong();
        final AtomicLong nonZero = new AtomicLong();
        final AtomicLong failed = new AtomicLong();
        final AtomicReference<String> firstNonZero = new AtomicReference<>();
        final AtomicReference<Throwable> unexpected = new AtomicReference<>();
        boolean interrupted;

        void check(PageAllocator a, long h, long bytes, int flags) {
            allocations.incrementAndGet();
            try (Pin pin = a.pin(h)) {
                MemorySegment s = pin.segment();
                long at = MemorySegment.mismatch(s, 0, bytes, ZEROS, 0, bytes);
                if (at >= 0) {
                    nonZero.incrementAndGet();
                    firstNonZero.compareAndSet(null, "allocation of " + bytes + " bytes with "
                            + AllocFlags.toString(flags) + " (handle 0x" + Long.toHexString(h) + ", zone "
                            + a.zoneOf(h) + ") has byte " + s.get(ValueLayout.JAVA_BYTE, at)
                            + " at offset " + at);
                }
                s.fill((byte) 0x5A); // garbage for the next user of this block
            }
        }

        /**
         * Closing a node's shared arena while this thread is inside an access to it (a race the allocator must
         * not lose, but may today) makes the JDK interrupt this thread; clear that before joining.
         */
        void clearInterrupt() {
            interrupted = Thread.interrupted();
        }

        void assertClean() {
            if (unexpected.get() != null) {
                throw new AssertionError("unexpected throwable after " + allocations.get() + " allocations"
                        + (interrupted ? " (and the allocating thread was left interrupted)" : "") + ": "
                        + unexpected.get(), unexpected.get());
            }
            assertTrue(allocations.get() > 100, "too few allocations to mean anything: " + allocations.get());
            assertEquals(0, nonZero.get(), () -> nonZero.get() + " of " + allocations.get()
                    + " ZERO allocations were not all zeros; first: " + firstNonZero.get());
        }
    }

    private static long size(SplittableRandom r) {
        return switch (r.nextInt(4)) {
            case 0 -> 4096;
            case 1 -> MAX_BYTES;
            case 2 -> 1 + r.nextInt(4096);
            default -> 1 + r.nextInt(MAX_BYTES);
        };
    }

    /**
     * One thread allocates {@code HOTREMOVABLE|ZERO} blocks of 4 KiB to 64 KiB from the MOVABLE zone of node 1 and
     * checks each, while another remaps that zone every ~50 us.
     */
    @Test
    void zeroAllocationsReadZeroWhileTheirZoneIsRemapped() throws Exception {
        PageAllocator a = builder()
                .node(NodeSpec.fixed(16L << 20))        // node 0: Normal[0], where remapped blocks go
                .node(NodeSpec.hotRemovable(16L << 20)) // node 1: Movable[1], the zone under remap
                .build();
        try {
            int zone = 1;
            Tally t = new Tally();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong remaps = new AtomicLong();
            CountDownLatch started = new CountDownLatch(1);
            Thread remapper = new Thread(() -> {
                started.countDown();
                try {
                    while (!stop.get()) {
                        a.remap(zone, Duration.ofMillis(20));
                        remaps.incrementAndGet();
                        LockSupport.parkNanos(50_000);
                    }
                } catch (Throwable e) {
                    t.unexpected.compareAndSet(null, e);
                }
            }, "remapper");
            remapper.start();
            assertTrue(started.await(5, TimeUnit.SECONDS));
            SplittableRandom r = new SplittableRandom(42);
            ArrayDeque<Long> live = new ArrayDeque<>();
            int flags = AllocFlags.HOTREMOVABLE | AllocFlags.ZERO;
            try {
                long end = System.nanoTime() + RUN_NANOS;
                while (System.nanoTime() < end && t.unexpected.get() == null) {
                    long bytes = size(r);
                    long h = a.allocate(bytes, flags, 1);
                    t.check(a, h, bytes, flags);
                    live.add(h);
                    if (live.size() > WINDOW) {
                        a.free(live.poll());
                    }
                }
            } catch (Throwable e) {
                t.unexpected.compareAndSet(null, e);
            } finally {
                stop.set(true);
                t.clearInterrupt();
                remapper.join(10_000);
            }
            t.assertClean();
            assertTrue(remaps.get() > 10, "the remapper hardly ran: " + remaps.get() + " remaps");
            for (Long h : live) {
                a.free(h);
            }
            Snapshots.check(a);
            assertNoActivePages(a);
        } finally {
            a.close();
        }
    }

    /**
     * One thread allocates with ZERO (movable or not, through the default zonelist and preferring the hot-removable
     * node 1), while another takes node 1 through disable, drain, unplug, plug and enable again and again.
     */
    @Test
    void zeroAllocationsReadZeroWhileTheirNodeIsDrainedAndReplugged() throws Exception {
        PageAllocator a = builder()
                .node(NodeSpec.fixed(16L << 20).movableBytes(8L << 20)) // node 0: Normal[0], Movable[1]
                .node(NodeSpec.hotRemovable(16L << 20))                 // node 1: Movable[2], cycled
                .node(NodeSpec.hotRemovable(16L << 20))                 // node 2: Movable[3]
                .build();
        try {
            Tally t = new Tally();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong cycles = new AtomicLong();
            CountDownLatch started = new CountDownLatch(1);
            Thread operator = new Thread(() -> {
                started.countDown();
                try {
                    while (!stop.get()) {
                        a.disable(1);
                        a.drain(1, Duration.ofMillis(20));
                        try {
                            a.unplug(1); // refused while a block stayed behind (pinned by the checker)
                            a.plug(1);
                        } catch (IllegalStateException stayed) {
                            assertEquals(NodeState.DISABLED, a.status().node(1).state(), stayed.toString());
                        }
                        a.enable(1);
                        cycles.incrementAndGet();
                        LockSupport.parkNanos(50_000);
                    }
                } catch (Throwable e) {
                    t.unexpected.compareAndSet(null, e);
                }
            }, "operator");
            operator.start();
            assertTrue(started.await(5, TimeUnit.SECONDS));
            SplittableRandom r = new SplittableRandom(7);
            ArrayDeque<Long> live = new ArrayDeque<>();
            try {
                long end = System.nanoTime() + RUN_NANOS;
                while (System.nanoTime() < end && t.unexpected.get() == null) {
                    long bytes = size(r);
                    int flags = AllocFlags.ZERO | (r.nextInt(4) != 0 ? AllocFlags.HOTREMOVABLE : 0);
                    long h;
                    try {
                        h = r.nextBoolean() ? a.allocate(bytes, flags) : a.allocate(bytes, flags, 1);
                    } catch (AllocationFailedException e) {
                        t.failed.incrementAndGet();
                        continue;
                    }
                    t.check(a, h, bytes, flags);
                    live.add(h);
                    if (live.size() > WINDOW) {
                        a.free(live.poll());
                    }
                    long th = a.tryAllocate(bytes, flags, 1);
                    if (th != PageAllocator.NULL_HANDLE) {
                        t.check(a, th, bytes, flags);
                        a.free(th);
                    } else {
                        t.failed.incrementAndGet();
                    }
                }
            } catch (Throwable e) {
                t.unexpected.compareAndSet(null, e);
            } finally {
                stop.set(true);
                t.clearInterrupt();
                operator.join(10_000);
            }
            t.assertClean();
            assertTrue(cycles.get() > 10, "the operator hardly ran: " + cycles.get() + " cycles");
            for (Long h : live) {
                a.free(h);
            }
            if (a.status().node(1).state() != NodeState.ENABLED) {
                a.enable(1);
            }
            Snapshots.check(a);
            assertNoActivePages(a);
        } finally {
            a.close();
        }
    }

    private static void assertNoActivePages(PageAllocator a) {
        a.trimCaches();
        for (var n : a.status().nodes()) {
            for (ZoneStatus z : n.zones()) {
                assertEquals(0, z.activePages(), () -> "a block leaked (everything was freed): " + z + "\n"
                        + a.status().render());
            }
        }
    }
}
