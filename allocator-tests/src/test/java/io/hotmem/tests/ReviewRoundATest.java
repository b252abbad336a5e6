package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryStatus;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.NodeStatus;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.HotplugListener;
import io.hotmem.RelocationProgress;
import io.hotmem.RelocationReport;
import java.time.Duration;
import io.hotmem.ZoneStatus;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Review round A: races between public calls. */
class ReviewRoundATest {

    /** A node's state and its zones in one snapshot must agree: a plugged node's zones have their pages. */
    private static String inconsistency(MemoryStatus s, long pagesPerNode) {
        for (NodeStatus n : s.nodes()) {
            if (n.state() != NodeState.UNPLUGGED) {
                long present = 0;
                for (ZoneStatus z : n.zones()) {
                    present += z.presentPages();
                }
                if (present != pagesPerNode) {
                    return "node " + n.id() + " is " + n.state() + " but its zones have " + present
                            + " present pages (expected " + pagesPerNode + "): " + n;
                }
            }
        }
        return null;
    }

    /**
     * status() racing unplug of a node: the snapshot says the node is DISABLED while its zone shows no pages (the
     * node's state is read without the zone lock, before the unplug, and its zone after it).
     */
    @Test
    void statusRacingUnplugShowsPluggedNodeWithoutPages() throws Exception {
        long bytes = 1L << 20;
        try (PageAllocator a = PageAllocator.builder().name("revA-status-unplug").pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false).threadCacheMaxOrder(-1)
                .node(NodeSpec.fixed(bytes))
                .node(NodeSpec.hotRemovable(bytes))
                .build()) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<String> bad = new AtomicReference<>();
            Thread toggler = new Thread(() -> {
                while (!stop.get()) {
                    a.disable(1);
                    a.unplug(1);
                    a.plug(1);
                    a.enable(1);
                }
            });
            toggler.start();
            long end = System.nanoTime() + 5_000_000_000L;
            int snapshots = 0;
            try {
                while (System.nanoTime() < end && bad.get() == null) {
                    String why = inconsistency(a.status(), bytes / 4096);
                    snapshots++;
                    if (why != null) {
                        bad.set(why + " (snapshot " + snapshots + ")");
                    }
                }
            } finally {
                stop.set(true);
                toggler.join();
            }
            assertNull(bad.get());
        }
    }

    /**
     * A live allocation with 65,535 open pins (leaked pins stay pinned for ever): setLong with a valid handle and
     * offset on an open allocator throws IllegalStateException, which the error contract reserves for illegal
     * transitions and closed allocators; pin() does the same. Nothing in the javadoc of setLong or pin, nor the
     * README's limits, mentions a pin limit.
     */
    @Test
    void setLongFailsOnAValidHandleOnceManyPinsAreOpen() {
        try (PageAllocator a = PageAllocator.builder().name("revA-pins").pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false).leakDetection(io.hotmem.LeakDetection.DISABLED)
                .node(NodeSpec.fixed(1L << 20))
                .build()) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE);
            List<Pin> pins = new ArrayList<>();
            try {
                for (int i = 0; i < 65_535; i++) {
                    pins.add(a.pin(h));
                }
                a.setLong(h, 0, 42L); // a write through a live handle, in bounds
                assertEquals(42L, a.getLong(h, 0));
            } finally {
                for (Pin p : pins) {
                    p.close();
                }
            }
        }
    }

    /**
     * pinLongTerm while another thread holds an ordinary, short pin on the same allocation: the javadoc of
     * pinLongTerm documents only AllocationFailedException (no NORMAL room); it throws IllegalStateException
     * ("it stays pinned by others") after about a thousand quick retries, long before the other pin is closed,
     * although the allocator is open and the call is legal.
     */
    @Test
    void pinLongTermGivesUpWithIllegalStateWhileAnotherThreadBrieflyPins() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("revA-longterm").pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(1L << 20))
                .node(NodeSpec.hotRemovable(1L << 20))
                .build()) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1); // in Movable[1]: pinLongTerm must move it
            a.setLong(h, 0, 7L);
            CountDownLatch pinned = new CountDownLatch(1);
            Thread other = new Thread(() -> {
                try (Pin p = a.pin(h)) {
                    pinned.countDown();
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            other.start();
            assertTrue(pinned.await(10, TimeUnit.SECONDS));
            long t0 = System.nanoTime();
            try (Pin p = a.pinLongTerm(h)) {
                assertEquals(0, a.nodeOf(h));
                assertEquals(7L, p.getLong(0));
            } catch (IllegalStateException e) {
                throw new AssertionError("pinLongTerm threw after " + (System.nanoTime() - t0) / 1_000_000
                        + " ms while another thread held a short pin: " + e, e);
            } finally {
                other.join();
            }
        }
    }

    /**
     * compact(zone) while a remap of the same zone waits for a pinned block: the node is ENABLED and the allocator
     * open, which are the only reasons compact's javadoc gives for IllegalStateException (and the README says
     * compaction runs beside a drain or remap of the same zone); it throws IllegalStateException anyway.
     */
    @Test
    void compactOfAZoneBeingRemappedThrowsIllegalStateThoughTheNodeIsEnabled() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("revA-compact-remap").pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(1L << 20))       // Normal[0]
                .node(NodeSpec.hotRemovable(1L << 20)) // Movable[1]
                .build()) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            Pin pin = a.pin(h);
            CountDownLatch waiting = new CountDownLatch(1);
            a.addListener(new HotplugListener() {
                @Override
                public void onProgress(RelocationProgress progress) {
                    waiting.countDown();
                }
            });
            AtomicReference<Object> remapOutcome = new AtomicReference<>();
            Thread remapper = new Thread(() -> {
                try {
                    remapOutcome.set(a.remap(1, Duration.ofSeconds(3)));
                } catch (Throwable e) {
                    remapOutcome.set(e);
                }
            });
            remapper.start();
            try {
                assertTrue(waiting.await(10, TimeUnit.SECONDS), "the remap made no pass");
                assertEquals(io.hotmem.NodeState.ENABLED, a.status().nodes().get(1).state());
                try {
                    RelocationReport r = a.compact(1, Duration.ofMillis(100));
                    assertTrue(r.moved() == 0, String.valueOf(r));
                } catch (IllegalStateException e) {
                    throw new AssertionError("compact of zone 1 of ENABLED node 1 threw: " + e, e);
                }
            } finally {
                pin.close();
                remapper.join(10_000);
            }
        }
    }
}
