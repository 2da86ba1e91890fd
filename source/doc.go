// Package source follows files as they grow, are rotated and truncated,
// and reads stdin, handing on the bytes of complete lines with the offset
// and identity of the file they came from. It never parses: the pipeline
// turns lines into records.
//
// A file's identity is its device and inode plus a fingerprint of its first
// bytes, so a checkpointed position is recognised after a rename and never
// applied to a different file that took the same name (or the same inode).
//
// The product card names github.com/nxadm/tail for following. It is not used:
// on rotation it reopens the path and abandons the old file descriptor, so
// lines a writer still appends to the renamed file are lost; truncation is
// noticed only when the file is smaller than the read offset, so a file
// truncated and rewritten past that offset between two polls is missed; and
// a copytruncate's lines copied away before graceguard read them cannot be
// recovered. This package keeps reading a rotated file until it has been
// quiet for a while, compares the fingerprint and the bytes before the read
// offset on every change to notice every truncation, and reads the lines a
// copytruncate moved from the copy (a sibling file that starts with the same
// bytes), under the device and inode of the file it copies: an alert's id
// names a line by the file's inode and the line's offset, so a line read
// from the file and again from its copy (after a restart) is one alert.
// Rotated generations it has not finished (renamed twice while
// graceguard was down, frozen or behind; copied and truncated while it was
// down) are found by identity or fingerprint beside the file (the one a
// symbolic link names, as /var/log/containers' links name the kubelet's
// logs under /var/log/pods) and read in
// order, oldest first (generations.go says how); a glob that matches them
// too never opens them on their own (a drained generation renamed again, or
// a copy, would be read twice); one that went before it
// was read to its end is said once and counted (lost.go). A generation
// drained and left stays watched (endedwatch.go): its writer may append
// to it afterwards (one that reopens lazily, or never), and its name need
// not sort it among the newer generations (numbered ones sort before the
// file read). Its descriptor is kept (its inode cannot go to another
// file meanwhile), with its file's event watch and an fstat at every
// safety look and rescan; late lines are read on from where it was left,
// neither skipped as read nor read again from its start, and so they are
// when a later listing finds it first. Its watch is announced as a stream
// at that point, so a checkpoint keeps it and a restart reads on from
// there, and as drained (Batch.Drained), so a reader merging by time
// holds nothing back for it. At most four a path and 1,024 in all are
// watched (the one changed longest ago goes first), each until deleted,
// rewritten, or unchanged for 24 h; one a cap drops while it exists is
// said once and counted (GenerationsUnwatched). A generation before the checkpoint's file that
// no position names is finished (read to its end as the start found it);
// a file made since in its freed inode is told from it by its first
// bytes, its birth and the bytes read last. Only regular
// files are opened; a path that cannot be read is reported once per change
// of state and through NotReady.
//
// When to look is apart from what a look decides (wake.go): on Linux file
// events (inotify, on each file by inode and on its directory) wake the
// follower, so an appended line is read within a fraction of a
// millisecond and an idle follower makes a few system calls a second.
// Events only say when to look; the same code decides what happened, so a
// lost, late or repeated event costs time, never a line. Every second each
// file is looked at anyway: bytes that no event announced, and no event
// for the file since, mean events do not arrive there (network
// filesystems, some overlay and FUSE mounts); that directory's files are
// then polled every Poll (20 ms), said once. PollOnly, and other systems,
// poll every file. A look made in the middle of a rotation (which events
// make likely) sees names renamed under it and copies half made: files are
// identified by the bytes read, never by reading them again, and copies
// are listed again and told from the copy being made.
package source
