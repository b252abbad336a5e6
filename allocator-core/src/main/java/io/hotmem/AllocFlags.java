package io.hotmem;

import java.util.StringJoiner;

/**
 * Allocation flags, combined with {@code |}. Any other bit is rejected with {@link IllegalArgumentException}.
 * The Linux names they come from are {@code __GFP_HOTREMOVABLE}, {@code __GFP_ZERO} and {@code __GFP_THISNODE};
 * {@link #ALIGNED} is the difference between {@code alloc_pages} and {@code alloc_pages_exact}.
 */
public final class AllocFlags {
    /** No flag: a non-movable allocation from NORMAL zones, with unspecified contents. */
    public static final int NONE = 0;
    /**
     * The allocation may be moved while it is in use: it is served from MOVABLE zones first (then NORMAL ones),
     * and only handle-based access ({@code getLong}, {@code pin}, ...) reaches it.
     */
    public static final int HOTREMOVABLE = 1;
    /** The allocation's bytes are all zero when it is handed out. */
    public static final int ZERO = 1 << 1;
    /** Only the preferred node may serve the allocation: no fallback to other nodes. */
    public static final int THISNODE = 1 << 2;

    /**
     * The allocation holds a whole naturally aligned block of {@code 2^order} pages (Linux {@code alloc_pages}):
     * its address is a multiple of the block size from the start of its zone, and it keeps that shape when it
     * moves. Without it an allocation holds exactly the pages its size needs (Linux {@code alloc_pages_exact}),
     * and the rest of the block is free for others.
     */
    public static final int ALIGNED = 1 << 3;

    /** Every defined bit. */
    public static final int ALL = HOTREMOVABLE | ZERO | THISNODE | ALIGNED;

    private AllocFlags() {
    }

    /**
     * Renders flags for messages, for example {@code "HOTREMOVABLE|ZERO"}, {@code "NONE"}, or with unknown bits
     * {@code "ZERO|0x10"}.
     *
     * @param flags any int
     * @return a readable form of {@code flags}
     */
    public static String toString(int flags) {
        if (flags == NONE) {
            return "NONE";
        }
        StringJoiner j = new StringJoiner("|");
        if ((flags & HOTREMOVABLE) != 0) {
            j.add("HOTREMOVABLE");
        }
        if ((flags & ZERO) != 0) {
            j.add("ZERO");
        }
        if ((flags & THISNODE) != 0) {
            j.add("THISNODE");
        }
        if ((flags & ALIGNED) != 0) {
            j.add("ALIGNED");
        }
        int unknown = flags & ~ALL;
        if (unknown != 0) {
            j.add("0x" + Integer.toHexString(unknown));
        }
        return j.toString();
    }
}
