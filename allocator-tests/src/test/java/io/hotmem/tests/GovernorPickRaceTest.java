package io.hotmem.tests;

import io.hotmem.HotplugListener;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The governor chooses the node it takes offline under the control lock: an operator's offline that lands between
 * the governor's look at the nodes and its lock is seen. Without the agent, {@code setCapacityLimit} runs the
 * governor on the caller's thread; an operator offlines a node at the same moment. Whatever the interleaving, the
 * governor offlines a node only while the plugged bytes are above the limit (it must not take a second node when the
 * operator's offline met the limit), and never fails on the node the operator took ("unplugged already": a warning,
 * and the node would wait out a backoff before the governor could plug it again).
 */
class GovernorPickRaceTest {
    private static final long NODE = 4L << 20;
    private static final int ROUNDS = 400;
    private static final int AGENT_ROUNDS = 40;

    @Test
    void anOperatorsOfflineRacingTheGovernorNeverMakesItOfflineASecondNodeOrFail() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("governor-race").maxOrder(6).backgroundThread(false)
                .node(NodeSpec.fixed(NODE)).node(NodeSpec.hotRemovable(NODE)).node(NodeSpec.hotRemovable(NODE))
                .build()) {
            AtomicReference<Thread> governorThread = new AtomicReference<>();
            AtomicReference<String> violation = offlinesWithinTheLimit(a, t -> t == governorThread.get());
            SplittableRandom random = new SplittableRandom(23);
            for (int round = 0; round < ROUNDS; round++) {
                replugBoth(a);
                int operatorsNode = 1 + (round & 1); // the governor's pick among two empty nodes is node 2
                int spin = random.nextInt(3000);
                CountDownLatch go = new CountDownLatch(1);
                AtomicReference<Throwable> failure = new AtomicReference<>();
                Thread governor = new Thread(() -> {
                    try {
                        go.await();
                        a.setCapacityLimit(2 * NODE); // one hot-removable node must go
                    } catch (Throwable e) {
                        failure.set(e);
                    }
                }, "limit-setter");
                governorThread.set(governor);
                governor.start();
                go.countDown();
                for (int i = 0; i < spin; i++) {
                    Thread.onSpinWait();
                }
                try {
                    a.offline(operatorsNode, Duration.ofSeconds(5));
                } catch (IllegalStateException e) {
                    // the governor took it first: the operator's own error, as documented
                }
                governor.join();
                assertNull(failure.get(), () -> "setCapacityLimit failed: " + failure.get());
                String round0 = "round " + round + " (operator's node " + operatorsNode + ", spin " + spin + "): ";
                assertNull(violation.get(), () -> round0 + violation.get());
                assertEquals("", a.status().governorReport(), round0 + "the governor reported a failure");
                assertTrue(a.pluggedBytes() <= 2 * NODE, round0 + a.pluggedBytes() + " bytes plugged");
                a.checkInvariants();
            }
        }
    }

    /**
     * The test above covers the governor on the caller's thread (setCapacityLimit without the agent); this is
     * the agent's path ({@code tryOnly}, where a null report means either "lock busy" or "limit met"): an operator's
     * offline racing the agent's shrink never makes the agent take a second node, nor leaves a failure reported.
     */
    @Test
    void anOperatorsOfflineRacingTheAgentsShrinkNeverMakesItOfflineASecondNode() throws Exception {
        String name = "rv4-agent-race";
        try (PageAllocator a = PageAllocator.builder().name(name).maxOrder(6).jmx(false)
                .purgeAfter(Duration.ofMillis(40))
                .node(NodeSpec.fixed(NODE)).node(NodeSpec.hotRemovable(NODE)).node(NodeSpec.hotRemovable(NODE))
                .build()) {
            AtomicReference<String> violation = offlinesWithinTheLimit(a,
                    t -> t.getName().startsWith("hotmem-agent-"));
            SplittableRandom random = new SplittableRandom(41);
            for (int round = 0; round < AGENT_ROUNDS; round++) {
                replugBoth(a);
                int operatorsNode = 1 + (round & 1);
                int spin = random.nextInt(200_000);
                a.setCapacityLimit(2 * NODE); // wakes the agent: one hot-removable node must go
                for (int i = 0; i < spin; i++) {
                    Thread.onSpinWait();
                }
                try {
                    a.offline(operatorsNode, Duration.ofSeconds(5));
                } catch (IllegalStateException e) {
                    // the agent took it first
                }
                long deadline = System.nanoTime() + 3_000_000_000L;
                while (a.pluggedBytes() > 2 * NODE && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                Thread.sleep(30); // a second offline by the agent would come now
                String round0 = "round " + round + " (operator's node " + operatorsNode + ", spin " + spin + "): ";
                assertNull(violation.get(), () -> round0 + violation.get());
                assertTrue(a.pluggedBytes() <= 2 * NODE, round0 + a.pluggedBytes() + " bytes plugged");
                assertEquals("", a.status().governorReport(), round0 + "the governor reported a failure");
                a.checkInvariants();
            }
            assertTrue(Thread.getAllStackTraces().keySet().stream()
                    .anyMatch(t -> t.getName().equals("hotmem-agent-" + name) && t.isAlive()), "the agent died");
        }
    }

    /**
     * Watches every offline a thread that {@code governor} matches starts: one that starts with the plugged bytes
     * within the limit ({@code 2 * NODE}) is recorded.
     */
    private static AtomicReference<String> offlinesWithinTheLimit(PageAllocator a, Predicate<Thread> governor) {
        AtomicReference<String> violation = new AtomicReference<>();
        a.addListener(new HotplugListener() {
            @Override
            public void onGoingOffline(int node) {
                long plugged = a.pluggedBytes();
                if (governor.test(Thread.currentThread()) && plugged <= 2 * NODE) {
                    violation.compareAndSet(null, Thread.currentThread().getName() + " offlines node " + node
                            + " with " + plugged + " bytes plugged, within the limit of " + 2 * NODE);
                }
            }
        });
        return violation;
    }

    /** No limit, both hot-removable nodes plugged and ENABLED. */
    private static void replugBoth(PageAllocator a) {
        a.setCapacityLimit(Long.MAX_VALUE);
        for (int n = 1; n <= 2; n++) {
            if (a.status().node(n).state() == NodeState.UNPLUGGED) {
                a.plug(n);
                a.enable(n);
            }
        }
    }
}
