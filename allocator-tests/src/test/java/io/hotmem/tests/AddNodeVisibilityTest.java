package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryStatus;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A node counted by {@link PageAllocator#nodeCount()} is usable at once, also while another thread is adding
 * nodes: an allocation preferring it never says "unknown node", {@link PageAllocator#status()} lists it, and node
 * transitions accept its id.
 */
class AddNodeVisibilityTest {
    private static final int ADDED = 64;

    private static PageAllocator build() {
        return PageAllocator.builder().name("add-node").pageSize(4096).maxOrder(6)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(4L << 20)) // node 0: where NONE allocations preferring a hot-removable node go
                .build();
    }

    /** Runs {@code adder} (which adds {@link #ADDED} nodes) on its own thread while {@code reader} loops here. */
    private static void race(PageAllocator a, Runnable reader) throws Exception {
        AtomicBoolean done = new AtomicBoolean();
        AtomicReference<Throwable> adderFailed = new AtomicReference<>();
        CountDownLatch started = new CountDownLatch(1);
        Thread adder = new Thread(() -> {
            started.countDown();
            try {
                for (int i = 0; i < ADDED; i++) {
                    a.addNode(NodeSpec.hotRemovable(1L << 20));
                }
            } catch (Throwable e) {
                adderFailed.set(e);
            } finally {
                done.set(true);
            }
        }, "adder");
        adder.start();
        try {
            assertTrue(started.await(5, TimeUnit.SECONDS));
            long reads = 0;
            while (!done.get()) {
                reader.run();
                reads++;
            }
            assertTrue(reads > 0);
        } finally {
            done.set(true);
            adder.join(10_000);
        }
        if (adderFailed.get() != null) {
            throw new AssertionError("addNode failed", adderFailed.get());
        }
        assertEquals(1 + ADDED, a.nodeCount());
        Snapshots.check(a);
    }

    @Test
    void aCountedNodeCanBePreferredByAnAllocation() throws Exception {
        PageAllocator a = build();
        try {
            race(a, () -> {
                int n = a.nodeCount();
                for (int flags : new int[] {AllocFlags.NONE, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE}) {
                    long h;
                    try {
                        h = a.tryAllocate(4096, flags, n - 1);
                    } catch (IllegalArgumentException e) {
                        throw new AssertionError("nodeCount() was " + n + ", yet tryAllocate(4096, "
                                + AllocFlags.toString(flags) + ", " + (n - 1) + ") threw", e);
                    }
                    if (h != PageAllocator.NULL_HANDLE) {
                        a.free(h);
                    } else if (flags != AllocFlags.NONE) {
                        throw new AssertionError("node " + (n - 1) + " is ENABLED and empty, yet a THISNODE "
                                + "allocation from it failed");
                    }
                }
            });
        } finally {
            a.close();
        }
    }

    @Test
    void aCountedNodeIsInTheStatusAndAcceptsTransitions() throws Exception {
        PageAllocator a = build();
        try {
            race(a, () -> {
                int n = a.nodeCount();
                MemoryStatus st = a.status();
                assertTrue(st.nodes().size() >= n, () -> "nodeCount() was " + n + ", yet status() lists "
                        + st.nodes().size() + " nodes");
                assertEquals(NodeState.ENABLED, st.node(n - 1).state());
                assertEquals(1, st.node(n - 1).zones().size(), () -> "node " + (n - 1) + ": " + st.node(n - 1));
                try {
                    a.disable(n - 1);
                    assertTrue(a.drain(n - 1, Duration.ZERO).complete());
                    a.enable(n - 1);
                } catch (IllegalArgumentException e) {
                    throw new AssertionError("nodeCount() was " + n + ", yet a transition of node " + (n - 1)
                            + " threw", e);
                }
            });
        } finally {
            a.close();
        }
    }
}
