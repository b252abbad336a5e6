package io.hotmem.internal;

import io.hotmem.LeakDetection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PARANOID: a free whose allocation's scope an operation (blocking I/O) holds, racing the allocator's close. The
 * free moves the allocation's record from the live ones to the stuck ones ({@link LeakDetector#untrack}); close
 * scans the live ones, then the stuck ones ({@link LeakDetector#close}). Whatever the interleaving, close must meet
 * the held scope and report it left open (the range then stays mapped until the I/O ends); if it did not, the range
 * would be unmapped under the I/O.
 */
class LeakDetectorCloseRaceTest {
    private static final int ROUNDS = 300;

    private final HandleTable table = new HandleTable();

    @AfterEach
    void releaseTag() {
        table.releaseTag();
    }

    @Test
    void closeRacingAFreeWhoseScopeIsHeldAlwaysFindsTheScope() throws Exception {
        SplittableRandom random = new SplittableRandom(11);
        try (Arena memory = Arena.ofShared()) {
            MemorySegment block = memory.allocate(64);
            AtomicInteger gaveBack = new AtomicInteger();
            for (int round = 0; round < ROUNDS; round++) {
                LeakDetector leaks = new LeakDetector("race", LeakDetection.PARANOID);
                int slot = table.acquireSlot();
                long h = HandleProtocol.publish(table, slot, HandleLayout.location(0, slot), 64,
                        HandleLayout.FLAG_TRACKED);
                leaks.track(h, 64, LeakDetector.site(), table);
                MemorySegment scoped = leaks.scoped(h, block);
                boolean[] freedNow = {true};
                try (HeldInIo io = HeldInIo.start(scoped)) {
                    // The free's CAS succeeded (the slot is the caller's), then its second close meets the held scope.
                    HandleProtocol.free(table.chunk(h), HandleLayout.base(h), h);
                    int spin = random.nextInt(4000);
                    CountDownLatch go = new CountDownLatch(1);
                    Thread freer = new Thread(() -> {
                        await(go);
                        freedNow[0] = leaks.untrack(h, () -> { }, gaveBack::incrementAndGet);
                    }, "freer");
                    freer.start();
                    go.countDown();
                    for (int i = 0; i < spin; i++) {
                        Thread.onSpinWait();
                    }
                    boolean allClosed = leaks.close(table);
                    freer.join();
                    assertFalse(allClosed, "round " + round + " (spin " + spin + "): close reported every scope "
                            + "closed while blocking I/O held the freed allocation's segment");
                    assertFalse(leaks.closeScopesLeftOpen(), "round " + round + ": the held scope closed");
                    assertFalse(freedNow[0], "round " + round + ": the free may give the block back under the I/O");
                }
                assertTrue(leaks.closeScopesLeftOpen(), "round " + round + ": the scope stayed open after the I/O");
                MemorySegment closedView = scoped;
                assertThrows(IllegalStateException.class, () -> closedView.get(ValueLayout.JAVA_BYTE, 0));
                table.releaseSlot(slot);
            }
            // Each allocator closed before its stuck free's I/O ended: those blocks went with the allocator's
            // memory; none is given back later (into a zone close unplugged).
            Thread.sleep(3 * LateRelease.PERIOD_MILLIS);
            assertEquals(0, gaveBack.get(), "blocks given back after their allocator closed");
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
