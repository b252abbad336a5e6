package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.LeakDetection;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.StaleHandleException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Second review of leak detection (commits 126fc45..8ab09d4 and 5b34544). */
class LeakDetectionSecondReviewDefectTest {

    /**
     * At PARANOID, {@code free} must throw and free nothing while an operation (blocking I/O) holds a segment of
     * the allocation ({@code PageAllocator.free}). {@code Allocation.free} closes the allocation's scope before
     * the free ({@code LeakDetector.beforeFree}, which is what throws) only if the state it reads first is
     * freeable; a transient pin by another thread's {@code setLong} at that instant skips it, the pin is gone by
     * the time {@code HandleProtocol.free} reads the state again, and the free succeeds. {@code untrack}'s close
     * of the scope then fails and is only logged: the block is freed while the I/O still reads it, and the
     * segment's scope stays alive for good (the record is gone, so {@code close()} does not see it either and
     * unmaps the range under it). The segment here was taken long before the free; it does not race it.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aFreeNeverSucceedsWhileBlockingIoHoldsASegmentOfTheAllocation() throws Exception {
        PageAllocator a = PageAllocator.builder().name("review13b-free-under-io").maxOrder(6)
                .leakDetection(LeakDetection.PARANOID).jmx(false).backgroundThread(false)
                .node(NodeSpec.fixed(8L << 20))
                .node(NodeSpec.hotRemovable(8L << 20))
                .build();
        long h = a.allocate(256 << 10, AllocFlags.NONE); // far more than a pipe's buffer
        MemorySegment s = a.segment(h);
        Pipe pipe = Pipe.open();
        CountDownLatch writing = new CountDownLatch(1);
        Thread writer = new Thread(() -> {
            ByteBuffer bb = s.asByteBuffer();
            writing.countDown();
            try {
                while (bb.hasRemaining()) {
                    pipe.sink().write(bb); // blocks: nobody reads the pipe yet
                }
            } catch (IOException e) {
                // the pipe is closed below
            }
        }, "blocked-writer");
        writer.setDaemon(true);
        writer.start();
        writing.await();
        Thread.sleep(200); // let the write block inside the kernel

        AtomicBoolean stop = new AtomicBoolean();
        Thread toucher = new Thread(() -> {
            long i = 0;
            while (!stop.get()) {
                try {
                    a.setLong(h, 8, i++); // pins and unpins the entry
                } catch (IllegalStateException e) {
                    return; // freed (StaleHandleException)
                }
            }
        }, "toucher");
        toucher.setDaemon(true);
        toucher.start();

        boolean freed = false;
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(3); // it failed within 1.2 s before the fix
        int attempts = 0;
        try {
            while (!freed && System.nanoTime() < end) {
                attempts++;
                try {
                    a.free(h);
                    freed = true;
                } catch (StaleHandleException e) {
                    freed = true; // an earlier attempt freed it after all
                } catch (IllegalStateException e) {
                    // pinned, or the I/O holds the segment: nothing freed, as it should be
                }
            }
        } finally {
            stop.set(true);
            toucher.join(10_000);
        }
        pipe.source().close();
        pipe.sink().close();
        writer.join(10_000);
        // The I/O is over. If the allocation was freed, its segment should be dead now.
        boolean alive = s.scope().isAlive();
        if (!freed) {
            a.free(h);
            a.close();
        } // else not a.close(): nothing would close the scope, and the range would be unmapped under it
        assertFalse(freed, "free succeeded (attempt " + attempts + ") while a blocking write held a segment of "
                + "the allocation; after the write, the freed allocation's segment is alive: " + alive);
        assertTrue(attempts > 0);
    }
}
