// Stub of coralmicro's libs/base/filesystem.h and the LittleFS API it exposes.
#pragma once
#include <stdint.h>
typedef int32_t lfs_ssize_t;
typedef int32_t lfs_soff_t;
typedef uint32_t lfs_size_t;
typedef struct lfs lfs_t;
typedef struct lfs_file { void* impl; } lfs_file_t;
enum lfs_open_flags { LFS_O_RDONLY = 1, LFS_O_WRONLY = 2, LFS_O_RDWR = 3, LFS_O_CREAT = 0x0100 };
enum lfs_whence_flags { LFS_SEEK_SET = 0, LFS_SEEK_CUR = 1, LFS_SEEK_END = 2 };
int lfs_file_open(lfs_t* lfs, lfs_file_t* file, const char* path, int flags);
int lfs_file_close(lfs_t* lfs, lfs_file_t* file);
int lfs_file_sync(lfs_t* lfs, lfs_file_t* file);
lfs_ssize_t lfs_file_read(lfs_t* lfs, lfs_file_t* file, void* buffer, lfs_size_t size);
lfs_ssize_t lfs_file_write(lfs_t* lfs, lfs_file_t* file, const void* buffer, lfs_size_t size);
lfs_soff_t lfs_file_seek(lfs_t* lfs, lfs_file_t* file, lfs_soff_t off, int whence);
namespace coralmicro {
lfs_t* Lfs();
}  // namespace coralmicro
