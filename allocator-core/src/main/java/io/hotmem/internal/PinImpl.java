package io.hotmem.internal;

import io.hotmem.Pin;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/** A pin on one allocation. The location is stable while the pin is open (see {@link HandleProtocol}). */
final class PinImpl implements Pin {
    private final long handle;
    private final long[] chunk;
    private final int base;
    private final MemorySegment zoneMemory;
    private final long blockOffset;
    private final long size;
    private boolean closed;

    PinImpl(long handle, long[] chunk, int base, MemorySegment zoneMemory, long blockOffset, long size) {
        this.handle = handle;
        this.chunk = chunk;
        this.base = base;
        this.zoneMemory = zoneMemory;
        this.blockOffset = blockOffset;
        this.size = size;
    }

    @Override
    public long handle() {
        return handle;
    }

    @Override
    public MemorySegment segment() {
        checkOpen();
        return zoneMemory.asSlice(blockOffset, size);
    }

    @Override
    public long getLong(long offset) {
        checkOpen();
        Access.checkRange(handle, offset, Long.BYTES, size);
        return zoneMemory.get(JAVA_LONG_UNALIGNED, blockOffset + offset);
    }

    @Override
    public void setLong(long offset, long value) {
        checkOpen();
        Access.checkRange(handle, offset, Long.BYTES, size);
        zoneMemory.set(JAVA_LONG_UNALIGNED, blockOffset + offset, value);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            HandleProtocol.unpin(chunk, base);
        }
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
