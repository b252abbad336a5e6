package io.hotmem;

/** Why a relocation (remap, drain, offline) left blocks behind. */
public enum FailureReason {
    /** A block was pinned at every attempt; pinned blocks are never forced. */
    PINNED,
    /** No zone that may take the block had room for it. */
    NO_MEMORY,
    /** A {@link HotplugListener#onGoingOffline(int)} refused the offline by throwing. */
    VETOED,
    /** The caller's deadline passed with blocks left. */
    TIMED_OUT,
    /** The calling thread was interrupted; it stopped at the next block and keeps its interrupt flag. */
    INTERRUPTED,
    /** A non-movable allocation sits in the zone: only HOTREMOVABLE allocations can move. */
    UNMOVABLE
}
