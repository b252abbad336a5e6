package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryStatus;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.NodeStatus;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Defects an adversarial review found in races between public calls (2026-12-02), each fixed. */
class ApiRaceReviewDefectTest {

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
     * status() racing unplug and plug of a node: in every snapshot a plugged node's zones have their pages (review:
     * the node's state was read without the zone locks, before an unplug, and its zone after it, showing a DISABLED
     * node with no pages).
     */
    @Test
    void statusRacingUnplugAndPlugShowsEachNodeWhole() throws Exception {
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
            long end = System.nanoTime() + 2_000_000_000L;
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
     * A live allocation with {@link PageAllocator#MAX_PINS} open pins (leaked pins stay pinned): a further pin, and
     * a write (which pins for its duration), throw IllegalStateException naming the handle, as the javadoc now says,
     * and change nothing; once one pin closes, both work again. (Review: the limit was undocumented.)
     */
    @Test
    void theDocumentedPinLimitRefusesAFurtherPinAndWriteAndChangesNothing() {
        try (PageAllocator a = PageAllocator.builder().name("revA-pins").pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false).leakDetection(io.hotmem.LeakDetection.DISABLED)
                .node(NodeSpec.fixed(1L << 20))
                .build()) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE);
            a.setLong(h, 0, 7L);
            List<Pin> pins = new ArrayList<>();
            try {
                for (int i = 0; i < PageAllocator.MAX_PINS; i++) {
                    pins.add(a.pin(h));
                }
                IllegalStateException p = assertThrows(IllegalStateException.class, () -> a.pin(h));
                assertTrue(p.getMessage().contains(Long.toHexString(h)), p.getMessage());
                IllegalStateException w = assertThrows(IllegalStateException.class, () -> a.setLong(h, 0, 42L));
                assertTrue(w.getMessage().contains(Long.toHexString(h)), w.getMessage());
                assertEquals(7L, a.getLong(h, 0), "the refused write changed nothing");
                pins.remove(pins.size() - 1).close();
                a.setLong(h, 0, 42L);
                assertEquals(42L, a.getLong(h, 0));
                pins.add(a.pin(h));
            } finally {
                for (Pin p : pins) {
                    p.close();
                }
            }
            a.free(h); // every pin is closed
            Snapshots.check(a);
        }
    }

    /**
     * pinLongTerm while another thread holds an ordinary pin on the same allocation (review: it gave up with an
     * undocumented IllegalStateException after about a thousand quick retries): a pin closed within the documented
     * 50 ms is waited for, and the block moves to NORMAL memory and is pinned there; a pin kept past it fails the
     * call with IllegalStateException naming the handle, and nothing changes.
     */
    @Test
    void pinLongTermWaitsForAShortPinOfAnotherThreadAndFailsOnALongOne() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("revA-longterm").pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(1L << 20))
                .node(NodeSpec.hotRemovable(1L << 20))
                .build()) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1); // in Movable[1]: pinLongTerm must move it
            a.setLong(h, 0, 7L);

            // Held 500 ms: far past the wait.
            CountDownLatch pinned = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Thread holder = new Thread(() -> {
                try (Pin p = a.pin(h)) {
                    pinned.countDown();
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            holder.start();
            assertTrue(pinned.await(10, TimeUnit.SECONDS));
            String before = Snapshots.settled(a);
            long t0 = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> a.pinLongTerm(h));
            long waitedMs = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(e.getMessage().contains(Long.toHexString(h)) && e.getMessage().contains("pinned"),
                    e.getMessage());
            assertTrue(waitedMs >= 45, "waited only " + waitedMs + " ms");
            assertEquals(1, a.nodeOf(h), "nothing moved");
            assertEquals(before, Snapshots.settled(a), "nothing changed");
            release.countDown();
            holder.join();

            // Held 5 ms: waited for (the wait is 50 ms).
            CountDownLatch pinnedAgain = new CountDownLatch(1);
            Thread brief = new Thread(() -> {
                try (Pin p = a.pin(h)) {
                    pinnedAgain.countDown();
                    Thread.sleep(5);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                }
            });
            brief.start();
            assertTrue(pinnedAgain.await(10, TimeUnit.SECONDS));
            try (Pin p = a.pinLongTerm(h)) {
                assertEquals(0, a.nodeOf(h));
                assertEquals(7L, p.getLong(0));
            } finally {
                brief.join();
            }
        }
    }

    /**
     * compact(zone) while a remap of the same zone waits for a pinned block (review: it threw an undocumented
     * IllegalStateException saying the compaction had stopped, though it never started): now documented, it refuses
     * at once, naming the running remap, and moves nothing.
     */
    @Test
    void compactOfAZoneBeingRemappedIsRefusedNamingTheRemap() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("revA-compact-remap").pageSize(4096).maxOrder(4)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(1L << 20))       // Normal[0]
                .node(NodeSpec.hotRemovable(1L << 20)) // Movable[1]
                .build()) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            Pin pin = a.pin(h);
            RemapInFlight remap = RemapInFlight.start(a, 1);
            try {
                assertEquals(io.hotmem.NodeState.ENABLED, a.status().nodes().get(1).state());
                // Documented now: a remap of the zone is running, so compact refuses at once, saying so, and
                // nothing moves (the message used to say the compaction "stopped", though it never started).
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> a.compact(1, Duration.ofMillis(100)));
                assertTrue(e.getMessage().startsWith("cannot compact") && e.getMessage().contains("remap")
                        && e.getMessage().contains("nothing moved"), e.getMessage());
                assertEquals(io.hotmem.NodeState.ENABLED, a.status().nodes().get(1).state());
            } finally {
                pin.close();
                remap.join();
            }
        }
    }
}
