package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.FailureReason;
import io.hotmem.HotplugListener;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.RelocationProgress;
import io.hotmem.RelocationReport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a {@link HotplugListener} may do and what happens when it throws.
 *
 * <ul>
 *   <li>A {@link RuntimeException} from {@code onGoingOffline} vetoes the offline (report VETOED, node back in its
 *       previous state, {@code onCancelOffline} called); from any other callback it is logged and ignored.</li>
 *   <li>An {@link Error} is neither a veto nor swallowed: from {@code onGoingOffline}, {@code offline()} rolls
 *       back (node in its previous state, {@code onCancelOffline} called) and throws it; from {@code onOnline},
 *       {@code onOffline} or {@code onProgress}, the operation completes (its state change stands) and then its
 *       caller gets the error.</li>
 *   <li>A listener that starts a node transition on the same allocator from a callback gets an
 *       {@link IllegalStateException} from that nested call; the outer call is not broken by it.</li>
 * </ul>
 */
class ListenerContractTest {
    private PageAllocator a;
    /** Every callback, as {@code "onX(node)"} or {@code "onProgress"}. */
    private final List<String> calls = new CopyOnWriteArrayList<>();

    @BeforeEach
    void build() {
        a = PageAllocator.builder().name("listener").pageSize(4096).maxOrder(6)
                .backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(8L << 20))                        // node 0
                .node(NodeSpec.hotRemovable(4L << 20))                 // node 1
                .node(NodeSpec.hotRemovable(4L << 20).startDisabled()) // node 2
                .build();
    }

    @AfterEach
    void close() {
        a.close();
    }

    /** A listener that records every callback and runs {@code action} in the one named {@code when}. */
    private HotplugListener listener(String when, Consumer<Object> action) {
        return new HotplugListener() {
            @Override
            public void onGoingOffline(int node) {
                calls.add("onGoingOffline(" + node + ")");
                if (when.equals("onGoingOffline")) {
                    action.accept(node);
                }
            }

            @Override
            public void onCancelOffline(int node) {
                calls.add("onCancelOffline(" + node + ")");
            }

            @Override
            public void onOffline(int node) {
                calls.add("onOffline(" + node + ")");
                if (when.equals("onOffline")) {
                    action.accept(node);
                }
            }

            @Override
            public void onOnline(int node) {
                calls.add("onOnline(" + node + ")");
                if (when.equals("onOnline")) {
                    action.accept(node);
                }
            }

            @Override
            public void onProgress(RelocationProgress progress) {
                calls.add("onProgress");
                if (when.equals("onProgress")) {
                    action.accept(progress);
                }
            }
        };
    }

    private static Consumer<Object> throwing(Throwable t) {
        return x -> {
            if (t instanceof Error e) {
                throw e;
            }
            throw (RuntimeException) t;
        };
    }

    /** A few movable blocks on node 1, so that a drain of it moves something (and reports progress). */
    private long[] fillNode1() {
        long[] hs = new long[8];
        for (int i = 0; i < hs.length; i++) {
            hs[i] = a.allocate(16384, AllocFlags.HOTREMOVABLE, 1);
            a.setLong(hs[i], 0, 1000 + i);
            assertEquals(1, a.nodeOf(hs[i]));
        }
        return hs;
    }

    private NodeState state(int node) {
        return a.status().node(node).state();
    }

    // ------------------------------------------------------------------------------------------------ Errors

    @Test
    void anErrorFromOnGoingOfflineRollsBackAndPropagates() {
        long[] hs = fillNode1();
        OutOfMemoryError oom = new OutOfMemoryError("test");
        a.addListener(listener("onGoingOffline", throwing(oom)));
        Throwable thrown = assertThrows(Throwable.class, () -> a.offline(1, Duration.ofSeconds(5)),
                "an Error from onGoingOffline is not a veto: offline() throws it");
        assertSame(oom, thrown);
        assertEquals(NodeState.ENABLED, state(1), "rolled back to its previous state");
        assertTrue(calls.contains("onCancelOffline(1)"), "onCancelOffline follows: " + calls);
        assertFalse(calls.contains("onOffline(1)"), calls::toString);
        for (int i = 0; i < hs.length; i++) {
            assertEquals(1000 + i, a.getLong(hs[i], 0));
        }
        Snapshots.check(a);
    }

    @Test
    void anAssertionErrorFromOnGoingOfflineOfADisabledNodeRollsBackAndPropagates() {
        a.disable(1);
        AssertionError boom = new AssertionError("listener bug");
        a.addListener(listener("onGoingOffline", throwing(boom)));
        Throwable thrown = assertThrows(Throwable.class, () -> a.offline(1, Duration.ofSeconds(5)));
        assertSame(boom, thrown);
        assertEquals(NodeState.DISABLED, state(1), "rolled back to its previous state");
        assertTrue(calls.contains("onCancelOffline(1)"), calls::toString);
        Snapshots.check(a);
    }

    @Test
    void anErrorFromOnOnlinePropagatesAfterTheNodeIsEnabled() {
        OutOfMemoryError oom = new OutOfMemoryError("test");
        a.addListener(listener("onOnline", throwing(oom)));
        Throwable thrown = assertThrows(Throwable.class, () -> a.enable(2));
        assertSame(oom, thrown);
        assertEquals(NodeState.ENABLED, state(2), "the state change stands");
        long h = a.allocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 2);
        a.free(h);
        Snapshots.check(a);
    }

    @Test
    void anErrorFromOnOfflinePropagatesAfterTheNodeIsUnplugged() {
        long[] hs = fillNode1();
        AssertionError boom = new AssertionError("listener bug");
        a.addListener(listener("onOffline", throwing(boom)));
        Throwable thrown = assertThrows(Throwable.class, () -> a.offline(1, Duration.ofSeconds(5)));
        assertSame(boom, thrown);
        assertEquals(NodeState.UNPLUGGED, state(1), "the offline committed: the node is gone");
        assertFalse(calls.contains("onCancelOffline(1)"), calls::toString);
        for (int i = 0; i < hs.length; i++) {
            assertEquals(1000 + i, a.getLong(hs[i], 0), "moved, not lost");
            assertTrue(a.nodeOf(hs[i]) != 1);
        }
        Snapshots.check(a);
    }

    @Test
    void anErrorFromOnProgressPropagatesAfterTheDrainCompleted() {
        long[] hs = fillNode1();
        a.disable(1);
        AssertionError boom = new AssertionError("listener bug");
        a.addListener(listener("onProgress", throwing(boom)));
        Throwable thrown = assertThrows(Throwable.class, () -> a.drain(1, Duration.ofSeconds(5)));
        assertSame(boom, thrown);
        assertTrue(calls.contains("onProgress"));
        assertEquals(NodeState.DISABLED, state(1));
        assertEquals(0, a.status().node(1).zones().getFirst().activePages(), "the drain ran to its end");
        for (int i = 0; i < hs.length; i++) {
            assertEquals(1000 + i, a.getLong(hs[i], 0));
            assertTrue(a.nodeOf(hs[i]) != 1);
        }
        Snapshots.check(a);
    }

    @Test
    void anErrorFromOnProgressPropagatesAfterTheOfflineCommitted() {
        long[] hs = fillNode1();
        OutOfMemoryError oom = new OutOfMemoryError("test");
        a.addListener(listener("onProgress", throwing(oom)));
        Throwable thrown = assertThrows(Throwable.class, () -> a.offline(1, Duration.ofSeconds(5)));
        assertSame(oom, thrown);
        assertEquals(NodeState.UNPLUGGED, state(1), "the offline completed");
        assertTrue(calls.contains("onOffline(1)"), calls::toString);
        for (int i = 0; i < hs.length; i++) {
            assertEquals(1000 + i, a.getLong(hs[i], 0));
        }
        Snapshots.check(a);
    }

    // ----------------------------------------------------------------------------------------- RuntimeExceptions

    @Test
    void aRuntimeExceptionFromOnGoingOfflineIsAVeto() {
        a.addListener(listener("onGoingOffline", throwing(new IllegalStateException("busy"))));
        RelocationReport r = a.offline(1, Duration.ofSeconds(5));
        assertFalse(r.complete());
        assertEquals(1, r.failures().get(FailureReason.VETOED), r::toString);
        assertEquals(NodeState.ENABLED, state(1));
        assertTrue(calls.contains("onCancelOffline(1)"), calls::toString);
        Snapshots.check(a);
    }

    @Test
    void aRuntimeExceptionFromTheOtherCallbacksIsIgnored() {
        RuntimeException boom = new RuntimeException("ignored");
        a.addListener(listener("onOnline", throwing(boom)));
        a.addListener(listener("onOffline", throwing(boom)));
        a.addListener(listener("onProgress", throwing(boom)));
        a.enable(2);
        assertEquals(NodeState.ENABLED, state(2));
        fillNode1();
        RelocationReport r = a.offline(1, Duration.ofSeconds(5));
        assertTrue(r.complete(), r::toString);
        assertEquals(NodeState.UNPLUGGED, state(1));
        Snapshots.check(a);
    }

    // ------------------------------------------------------------------------------------------------ nesting

    /**
     * What a nested call from a callback threw (null: it returned), and whether it ran at all. It runs once: a
     * nested offline that is not refused calls the listener again, which must not recurse.
     */
    private static final class Nested {
        final AtomicReference<Throwable> thrown = new AtomicReference<>();
        volatile boolean ran;

        Consumer<Object> calling(Runnable call, boolean rethrow) {
            return x -> {
                if (ran) {
                    return;
                }
                ran = true;
                try {
                    call.run();
                } catch (RuntimeException | Error e) {
                    thrown.set(e);
                    if (rethrow) {
                        throw e;
                    }
                }
            };
        }

        void assertRefused() {
            assertTrue(ran, "the callback did not run");
            assertInstanceOf(IllegalStateException.class, thrown.get(),
                    "a node transition nested in a listener callback is refused with IllegalStateException");
        }
    }

    /** The listener swallows what the nested call threw: the outer offline completes. */
    private void nestedFromOnGoingOfflineIsRefused(Runnable call) {
        long[] hs = fillNode1();
        Nested nested = new Nested();
        a.addListener(listener("onGoingOffline", nested.calling(call, false)));
        RelocationReport r = a.offline(1, Duration.ofSeconds(5));
        nested.assertRefused();
        assertTrue(r.complete(), r::toString);
        assertEquals(NodeState.UNPLUGGED, state(1));
        for (int i = 0; i < hs.length; i++) {
            assertEquals(1000 + i, a.getLong(hs[i], 0));
        }
        Snapshots.check(a);
    }

    @Test
    void offlineFromOnGoingOfflineIsRefused() {
        nestedFromOnGoingOfflineIsRefused(() -> a.offline(1, Duration.ofSeconds(1)));
    }

    @Test
    void drainFromOnGoingOfflineIsRefused() {
        nestedFromOnGoingOfflineIsRefused(() -> a.drain(1, Duration.ofSeconds(1)));
    }

    @Test
    void disableOfAnotherNodeFromOnGoingOfflineIsRefused() {
        a.enable(2);
        nestedFromOnGoingOfflineIsRefused(() -> a.disable(2));
        assertEquals(NodeState.ENABLED, state(2), "the refused call changed nothing");
    }

    @Test
    void closeFromOnGoingOfflineIsRefused() {
        nestedFromOnGoingOfflineIsRefused(() -> a.close());
        assertEquals(3, a.nodeCount(), "still open");
    }

    /** The listener lets the nested call's exception out: a RuntimeException from onGoingOffline, so a veto. */
    @Test
    void offlineFromOnGoingOfflineThatPropagatesIsAVeto() {
        long[] hs = fillNode1();
        Nested nested = new Nested();
        a.addListener(listener("onGoingOffline", nested.calling(() -> a.offline(1, Duration.ofSeconds(1)), true)));
        RelocationReport r = a.offline(1, Duration.ofSeconds(5));
        nested.assertRefused();
        assertFalse(r.complete(), r::toString);
        assertEquals(1, r.failures().get(FailureReason.VETOED), r::toString);
        assertEquals(NodeState.ENABLED, state(1), "rolled back");
        for (int i = 0; i < hs.length; i++) {
            assertEquals(1000 + i, a.getLong(hs[i], 0));
        }
        Snapshots.check(a);
    }

    @Test
    void closeFromOnProgressIsRefusedAndTheDrainCompletes() {
        long[] hs = fillNode1();
        a.disable(1);
        Nested nested = new Nested();
        a.addListener(listener("onProgress", nested.calling(() -> a.close(), false)));
        RelocationReport r = a.drain(1, Duration.ofSeconds(5));
        nested.assertRefused();
        assertTrue(r.complete(), r::toString);
        assertEquals(0, a.status().node(1).zones().getFirst().activePages());
        for (int i = 0; i < hs.length; i++) {
            assertEquals(1000 + i, a.getLong(hs[i], 0));
        }
        Snapshots.check(a);
    }

    @Test
    void closeFromOnProgressThatPropagatesLeavesTheDrainComplete() {
        long[] hs = fillNode1();
        a.disable(1);
        Nested nested = new Nested();
        a.addListener(listener("onProgress", nested.calling(() -> a.close(), true)));
        RelocationReport r = a.drain(1, Duration.ofSeconds(5)); // a RuntimeException from onProgress is ignored
        nested.assertRefused();
        assertTrue(r.complete(), r::toString);
        for (int i = 0; i < hs.length; i++) {
            assertEquals(1000 + i, a.getLong(hs[i], 0));
        }
        Snapshots.check(a);
    }
}
