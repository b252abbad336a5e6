package io.hotmem.tests;

import io.hotmem.PageAllocator;
import io.hotmem.Pin;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.Pipe;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A thread blocked inside blocking I/O on an allocator's memory: it writes a segment to a pipe nobody reads (far
 * more than the pipe's buffer), so the segment's scope stays acquired until {@link #close}. For the tests of what
 * close() does while memory is in use that way.
 */
final class BlockedInIo implements AutoCloseable {
    private final Pipe pipe;
    private final Thread thread;

    private BlockedInIo(Pipe pipe, Thread thread) {
        this.pipe = pipe;
        this.thread = thread;
    }

    /** A scoped reader ({@code readAsLong}) of {@code h} whose reader blocks writing its view. */
    static BlockedInIo scopedReader(PageAllocator a, long h) throws Exception {
        return start("blocked-scoped-reader", write -> {
            try {
                a.readAsLong(h, s -> {
                    write.accept(s);
                    return 0L;
                });
            } catch (RuntimeException e) {
                // closed meanwhile
            }
        });
    }

    /** A thread that pins {@code h} and blocks writing the pin's segment. */
    static BlockedInIo pinnedSegment(PageAllocator a, long h) throws Exception {
        return start("blocked-pinned-writer", write -> {
            try (Pin p = a.pin(h)) {
                write.accept(p.segment());
            } catch (RuntimeException e) {
                // closed meanwhile
            }
        });
    }

    /** Blocks writing {@code pin}'s segment; the pin stays the caller's. */
    static BlockedInIo segmentOf(Pin pin) throws Exception {
        return start("blocked-writer", write -> write.accept(pin.segment()));
    }

    /** Starts {@code body}, whose argument blocks writing a segment; returns once the write is inside the kernel. */
    private static BlockedInIo start(String name, Consumer<Consumer<MemorySegment>> body) throws Exception {
        Pipe pipe = Pipe.open();
        CountDownLatch writing = new CountDownLatch(1);
        Thread t = new Thread(() -> body.accept(s -> {
            var bb = s.asByteBuffer();
            writing.countDown();
            try {
                pipe.sink().write(bb); // blocks: nobody reads the pipe
            } catch (IOException e) {
                // the pipe is closed by close()
            }
        }), name);
        t.setDaemon(true);
        t.start();
        assertTrue(writing.await(5, TimeUnit.SECONDS), name + " did not start writing");
        Thread.sleep(200); // let the write block inside the kernel
        return new BlockedInIo(pipe, t);
    }

    /** Ends the write (closes the pipe) and waits for the thread. */
    @Override
    public void close() throws Exception {
        pipe.source().close();
        pipe.sink().close();
        thread.join(5_000);
    }
}
