package io.hotmem.internal;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A thread blocked writing a segment into a full pipe: the segment's scope stays acquired until close. */
final class HeldInIo implements AutoCloseable {
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
        // The write's own native call (write0), which the scope's acquire precedes: not another native frame on
        // the way there (NativeThread.current0, for one).
        StackTraceElement[] stack = t.getStackTrace();
        return stack.length > 0 && stack[0].isNativeMethod() && stack[0].getMethodName().startsWith("write");
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
