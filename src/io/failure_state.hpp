#pragma once
// Process-wide state of the io layer's failure handling (private to src/io; see
// docs/architecture.md, "MPI").
namespace sarscale::io::detail {

// Ranks agreed on an I/O failure (agree_on_failure raised an IoError). From then on a file shared
// by several ranks is not closed while an exception unwinds: HDF5's flush on close, after a failed
// write, can leave the ranks in different collective calls (one in MPI_File_close, another in the
// metadata cache's barrier).
void note_io_failure_agreed() noexcept;
bool io_failure_agreed() noexcept;

// A file was left open, or failed to close: HDF5 must not be shut down any more (h5::close_library).
void note_library_unsafe_to_close() noexcept;

}  // namespace sarscale::io::detail
