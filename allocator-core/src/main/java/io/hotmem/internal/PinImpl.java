package io.hotmem.internal;

import io.hotmem.Pin;

import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * A pin on one allocation. The location is stable while the pin is open (see {@link HandleProtocol}). Typed
 * accessors go through the allocator's range segment at the block's offset; {@link #segment()} is a user segment
 * (scoped by the node, see {@link MemoryTable}; at PARANOID leak detection by the pin, see {@link LeakDetector}).
 * An accessor that meets the allocator's closed range reports the allocator as closed
 * ({@link AllocatorContext#closedOr}).
 */
final class PinImpl implements Pin {
    private final long handle;
    private final long[] chunk;
    private final int base;
    private final MemorySegment memory;
    private final long blockOffset;
    private final long size;
    private final Access access;
    private final long location;
    /** The pin's leak-detection token (the cleaner watches it), or null when the pin is not tracked. */
    private final LeakDetector.PinToken tracked;
    private boolean closed;

    PinImpl(long handle, long[] chunk, int base, MemorySegment memory, long blockOffset, long size, Access access,
            long location, LeakDetector.PinToken tracked) {
        this.handle = handle;
        this.chunk = chunk;
        this.base = base;
        this.memory = memory;
        this.blockOffset = blockOffset;
        this.size = size;
        this.access = access;
        this.location = location;
        this.tracked = tracked;
    }

    @Override
    public long handle() {
        return handle;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public MemorySegment segment() {
        checkOpen();
        try {
            return access.pinSegment(tracked, handle, location, size);
        } catch (IllegalStateException e) {
            throw access.closedOr(e); // a scope that close() closed meanwhile: the allocator is closed
        }
    }

    @Override
    public long getLong(long offset) {
        try {
            return memory.get(JAVA_LONG_UNALIGNED, at(offset, Long.BYTES));
        } catch (IllegalStateException e) {
            throw access.closedOr(e);
        }
    }

    @Override
    public void setLong(long offset, long value) {
        try {
            memory.set(JAVA_LONG_UNALIGNED, at(offset, Long.BYTES), value);
        } catch (IllegalStateException e) {
            throw access.closedOr(e);
        }
    }

    @Override
    public int getInt(long offset) {
        try {
            return memory.get(JAVA_INT_UNALIGNED, at(offset, Integer.BYTES));
        } catch (IllegalStateException e) {
            throw access.closedOr(e);
        }
    }

    @Override
    public void setInt(long offset, int value) {
        try {
            memory.set(JAVA_INT_UNALIGNED, at(offset, Integer.BYTES), value);
        } catch (IllegalStateException e) {
            throw access.closedOr(e);
        }
    }

    @Override
    public byte getByte(long offset) {
        try {
            return memory.get(JAVA_BYTE, at(offset, 1));
        } catch (IllegalStateException e) {
            throw access.closedOr(e);
        }
    }

    @Override
    public void setByte(long offset, byte value) {
        try {
            memory.set(JAVA_BYTE, at(offset, 1), value);
        } catch (IllegalStateException e) {
            throw access.closedOr(e);
        }
    }

    @Override
    public void copyFrom(MemorySegment src, long srcOffset, long offset, long bytes) {
        Objects.requireNonNull(src, "src");
        try {
            MemorySegment.copy(src, srcOffset, memory, at(offset, bytes), bytes);
        } catch (IllegalStateException e) {
            throw access.closedOr(e); // src/dst scope errors stay as they are unless closed
        }
    }

    @Override
    public void copyTo(long offset, MemorySegment dst, long dstOffset, long bytes) {
        Objects.requireNonNull(dst, "dst");
        try {
            MemorySegment.copy(memory, at(offset, bytes), dst, dstOffset, bytes);
        } catch (IllegalStateException e) {
            throw access.closedOr(e); // src/dst scope errors stay as they are unless closed
        }
    }

    @Override
    public void close() {
        if (!closed) {
            if (tracked != null) {
                tracked.state.close(); // first: a PARANOID segment dies before the block may move
                // The token must outlive the state's close: if it were collected first, the cleaner could find the
                // state open and report a pin being closed (this pin may be scalar-replaced, its fields dead early).
                Reference.reachabilityFence(tracked);
            }
            closed = true;
            HandleProtocol.unpinChecked(chunk, base);
        }
    }

    /** @return the range offset of {@code [offset, offset + length)} of the allocation, checked */
    private long at(long offset, long length) {
        checkOpen();
        // The allocator's too: its range can stay mapped after close (a scoped reader's view in blocking I/O at
        // close), and then an access through it would not fail by itself.
        access.checkAllocatorOpen();
        Access.checkRange(handle, offset, length, size);
        return blockOffset + offset;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("pin of handle 0x" + Long.toHexString(handle) + " is closed");
        }
    }

    @Override
    public String toString() {
        return "Pin[0x" + Long.toHexString(handle) + (closed ? ", closed]" : "]");
    }
}
