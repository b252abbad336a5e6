package io.hotmem.internal;

import io.hotmem.LeakDetection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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
            for (int round = 0; round < ROUNDS; round++) {
                LeakDetector leaks = new LeakDetector("race", LeakDetection.PARANOID);
                int slot = table.acquireSlot();
                long h = HandleProtocol.publish(table, slot, HandleLayout.location(0, slot), 64,
                        HandleLayout.FLAG_TRACKED);
                leaks.track(h, 64, LeakDetector.site(), table);
                MemorySegment scoped = leaks.scoped(h, block);
                try (HeldInIo io = HeldInIo.start(scoped)) {
                    // The free's CAS succeeded (the slot is the caller's), then its second close meets the held scope.
                    HandleProtocol.free(table.chunk(h), HandleLayout.base(h), h);
                    int spin = random.nextInt(4000);
                    CountDownLatch go = new CountDownLatch(1);
                    Thread freer = new Thread(() -> {
                        await(go);
                        leaks.untrack(h);
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
                }
                assertTrue(leaks.closeScopesLeftOpen(), "round " + round + ": the scope stayed open after the I/O");
                MemorySegment closedView = scoped;
                assertThrows(IllegalStateException.class, () -> closedView.get(ValueLayout.JAVA_BYTE, 0));
                table.releaseSlot(slot);
            }
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A thread blocked writing a segment into a full pipe: the segment's scope stays acquired until close. */
    private static final class HeldInIo implements AutoCloseable {
        private final Pipe pipe;
        private final Thread thread;
        private final AtomicInteger failures;

        private HeldInIo(Pipe pipe, Thread thread, AtomicInteger failures) {
            this.pipe = pipe;
            this.thread = thread;
            this.failures = failures;
        }

        static HeldInIo start(MemorySegment s) throws Exception {
            Pipe pipe = Pipe.open();
            pipe.sink().configureBlocking(false);
            ByteBuffer fill = ByteBuffer.allocateDirect(1 << 16);
            while (pipe.sink().write(fill.clear()) > 0) {
                // until the pipe is full
            }
            pipe.sink().configureBlocking(true);
            CountDownLatch writing = new CountDownLatch(1);
            AtomicInteger failures = new AtomicInteger();
            Thread t = new Thread(() -> {
                ByteBuffer bb = s.asByteBuffer();
                writing.countDown();
                try {
                    pipe.sink().write(bb); // blocks: the pipe is full
                } catch (IOException e) {
                    failures.incrementAndGet();
                }
            }, "held-in-io");
            t.setDaemon(true);
            t.start();
            assertTrue(writing.await(5, TimeUnit.SECONDS), "the writer did not start");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (!inNativeWrite(t)) { // the scope is acquired before the write enters the kernel
                assertTrue(System.nanoTime() < deadline, "the writer did not block in the kernel");
                Thread.sleep(1);
            }
            return new HeldInIo(pipe, t, failures);
        }

        private static boolean inNativeWrite(Thread t) {
            StackTraceElement[] stack = t.getStackTrace();
            return stack.length > 0 && stack[0].isNativeMethod();
        }

        /** Drains the pipe until the write ends. */
        @Override
        public void close() throws Exception {
            pipe.source().configureBlocking(false);
            ByteBuffer sink = ByteBuffer.allocateDirect(1 << 16);
            while (thread.isAlive()) {
                pipe.source().read(sink.clear());
                thread.join(1);
            }
            pipe.sink().close();
            pipe.source().close();
            assertEquals(0, failures.get(), "the held write failed");
        }
    }
}
