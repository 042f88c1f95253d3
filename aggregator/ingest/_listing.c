/* The seeds folder's listing in C: the one step of a run whose cost grows with the
 * folder rather than with the change.
 *
 * Every run lists every file of the seeds folder to learn what changed: one `stat` per
 * file. In Python each file costs ~9 µs (a DirEntry, a stat_result of twenty fields, the
 * checks, a tuple); the system calls themselves ~1.5 µs. At 100,000 documents that is the
 * difference between 0.9 s and 0.15 s for a run that finds nothing new. Two functions:
 *
 *   scan(root, resolved_root, seed_type, kinds, max_bytes) -> (seeds, odd, errors)
 *       Walks `root` (not following links, skipping hidden names), keeps the files whose
 *       extension is a key of `kinds`, and `lstat`s them relative to their folder. A
 *       regular file within `max_bytes` becomes a `seed_type` tuple (relpath, resolved_root,
 *       kind, size, mtime_ns, mtime, None); any other entry that may be a seed (a link, a
 *       FIFO, a device, an oversized file, a name Python should judge) is returned in
 *       `odd` by relative path for `aggregator.ingest.seeds` to look at; a folder that
 *       cannot be listed is returned in `errors` as (relpath, errno).
 *
 *   lines(files, buckets) -> (listing, groups, counts, of_each)
 *       The bytes `readstate.listing_digest` hashes for these files (path, size and
 *       st_mtime_ns of each, in order), the same for the files of each bucket
 *       (`readstate.bucket_of`: CRC-32 of the path, modulo `buckets`), how many files
 *       each bucket has, and each file's bucket.
 *
 * Both have a pure-Python twin that gives the same results where this module is not
 * built (tests/test_listing_c.py holds them to that).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* -- a growable byte buffer ------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} Buffer;

static int
buffer_reserve(Buffer *buffer, size_t more)
{
    if (buffer->len + more <= buffer->cap) {
        return 0;
    }
    size_t cap = buffer->cap ? buffer->cap : 256;
    while (cap < buffer->len + more) {
        cap *= 2;
    }
    char *data = PyMem_Realloc(buffer->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    buffer->data = data;
    buffer->cap = cap;
    return 0;
}

/* -- scan ------------------------------------------------------------------------------- */

typedef struct {
    char *name;
    unsigned char type; /* DT_* */
} Entry;

typedef struct {
    int root_fd;
    PyObject *resolved_root;
    PyTypeObject *seed_type;
    PyObject *kinds;
    long long max_bytes;
    PyObject *seeds;
    PyObject *odd;
    PyObject *errors;
    Buffer path; /* the relative path being looked at, NUL-terminated */
} Walk;

/* Folders sort as if their name ended in "/": the walk then gives the paths in the order
 * of their relative paths' bytes, which the caller's sort finds already sorted. */
static int
compare_entries(const void *a, const void *b)
{
    const Entry *left = a, *right = b;
    const unsigned char *l = (const unsigned char *)left->name;
    const unsigned char *r = (const unsigned char *)right->name;
    while (*l && *l == *r) {
        l++;
        r++;
    }
    unsigned int lc = *l ? *l : (left->type == DT_DIR ? '/' : 0);
    unsigned int rc = *r ? *r : (right->type == DT_DIR ? '/' : 0);
    if (lc != rc) {
        return lc < rc ? -1 : 1;
    }
    return 0;
}

static int
add_error(Walk *walk, size_t len, int error)
{
    PyObject *relpath = PyUnicode_DecodeFSDefaultAndSize(walk->path.data, (Py_ssize_t)len);
    if (relpath == NULL) {
        return -1;
    }
    PyObject *item = Py_BuildValue("(Ni)", relpath, error);
    if (item == NULL) {
        return -1;
    }
    int failed = PyList_Append(walk->errors, item);
    Py_DECREF(item);
    return failed;
}

static int
add_odd(Walk *walk, size_t len)
{
    PyObject *relpath = PyUnicode_DecodeFSDefaultAndSize(walk->path.data, (Py_ssize_t)len);
    if (relpath == NULL) {
        return -1;
    }
    int failed = PyList_Append(walk->odd, relpath);
    Py_DECREF(relpath);
    return failed;
}

/* The kind of a file by its extension (from the last "."), lowercased; NULL when it has
 * none of `kinds`. `*judge` is set when Python should decide (a non-ASCII extension,
 * which `str.lower` may fold onto an ASCII one). */
static PyObject *
kind_of(Walk *walk, const char *name, int *judge)
{
    const char *dot = strrchr(name, '.');
    *judge = 0;
    if (dot == NULL) {
        return NULL;
    }
    char ext[16];
    size_t n = 0;
    for (const char *c = dot; *c; c++) {
        unsigned char byte = (unsigned char)*c;
        if (byte >= 0x80) {
            *judge = 1;
            return NULL;
        }
        if (n + 1 >= sizeof ext) {
            return NULL; /* longer than any extension of a seed */
        }
        ext[n++] = (char)(byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte);
    }
    ext[n] = '\0';
    PyObject *key = PyUnicode_FromStringAndSize(ext, (Py_ssize_t)n);
    if (key == NULL) {
        return NULL;
    }
    PyObject *kind = PyDict_GetItemWithError(walk->kinds, key); /* borrowed */
    Py_DECREF(key);
    return kind;
}

static int
add_seed(Walk *walk, size_t len, PyObject *kind, const struct stat *status)
{
    long long mtime_ns = (long long)status->st_mtim.tv_sec * 1000000000LL +
                         (long long)status->st_mtim.tv_nsec;
    /* As os.stat computes st_mtime, so both give the same float. */
    double stamp = (double)status->st_mtim.tv_sec + (double)status->st_mtim.tv_nsec * 1e-9;
    PyObject *relpath = PyUnicode_DecodeFSDefaultAndSize(walk->path.data, (Py_ssize_t)len);
    PyObject *size = PyLong_FromLongLong((long long)status->st_size);
    PyObject *nanoseconds = PyLong_FromLongLong(mtime_ns);
    PyObject *seconds = PyFloat_FromDouble(stamp);
    PyObject *seed = NULL;
    if (relpath && size && nanoseconds && seconds) {
        seed = walk->seed_type->tp_alloc(walk->seed_type, 7);
    }
    if (seed == NULL) {
        Py_XDECREF(relpath);
        Py_XDECREF(size);
        Py_XDECREF(nanoseconds);
        Py_XDECREF(seconds);
        return -1;
    }
    Py_INCREF(walk->resolved_root);
    Py_INCREF(kind);
    Py_INCREF(Py_None);
    PyTuple_SET_ITEM(seed, 0, relpath);
    PyTuple_SET_ITEM(seed, 1, walk->resolved_root);
    PyTuple_SET_ITEM(seed, 2, kind);
    PyTuple_SET_ITEM(seed, 3, size);
    PyTuple_SET_ITEM(seed, 4, nanoseconds);
    PyTuple_SET_ITEM(seed, 5, seconds);
    PyTuple_SET_ITEM(seed, 6, Py_None);
    int failed = PyList_Append(walk->seeds, seed);
    Py_DECREF(seed);
    return failed;
}

static int walk_folder(Walk *walk, size_t len);

/* One entry of a listed folder, whose relative path is walk->path[0:len]. */
static int
look_at(Walk *walk, int folder_fd, const Entry *entry, size_t len)
{
    if (entry->type == DT_DIR) {
        return walk_folder(walk, len);
    }
    if (entry->type == DT_LNK) {
        return add_odd(walk, len); /* to a folder, out of the root, broken: Python says */
    }
    int judge;
    PyObject *kind = kind_of(walk, entry->name, &judge);
    if (kind == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        return judge ? add_odd(walk, len) : 0;
    }
    if (entry->type != DT_REG) {
        return add_odd(walk, len); /* a FIFO, a socket, a device: refused, with a reason */
    }
    struct stat status;
    if (fstatat(folder_fd, entry->name, &status, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(status.st_mode) || (long long)status.st_size > walk->max_bytes) {
        return add_odd(walk, len); /* gone, swapped or too large: Python says why */
    }
    return add_seed(walk, len, kind, &status);
}

static void
free_entries(Entry *entries, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        PyMem_Free(entries[i].name);
    }
    PyMem_Free(entries);
}

/* The entries of an open folder, hidden ones left out, sorted; NULL with errno set (or a
 * Python error) when it cannot be read. */
static Entry *
read_entries(DIR *folder, size_t *count)
{
    Entry *entries = NULL;
    size_t cap = 0;
    *count = 0;
    struct dirent *found;
    errno = 0;
    while ((found = readdir(folder)) != NULL) {
        if (found->d_name[0] == '.') {
            continue;
        }
        unsigned char type = found->d_type;
        if (type == DT_UNKNOWN) { /* some file systems do not say: ask */
            struct stat status;
            if (fstatat(dirfd(folder), found->d_name, &status, AT_SYMLINK_NOFOLLOW) == 0) {
                type = S_ISDIR(status.st_mode)   ? DT_DIR
                       : S_ISLNK(status.st_mode) ? DT_LNK
                       : S_ISREG(status.st_mode) ? DT_REG
                                                 : DT_UNKNOWN;
            }
        }
        if (*count == cap) {
            cap = cap ? cap * 2 : 64;
            Entry *grown = PyMem_Realloc(entries, cap * sizeof(Entry));
            if (grown == NULL) {
                free_entries(entries, *count);
                PyErr_NoMemory();
                return NULL;
            }
            entries = grown;
        }
        size_t name_len = strlen(found->d_name);
        char *name = PyMem_Malloc(name_len + 1);
        if (name == NULL) {
            free_entries(entries, *count);
            PyErr_NoMemory();
            return NULL;
        }
        memcpy(name, found->d_name, name_len + 1);
        entries[*count].name = name;
        entries[*count].type = type;
        (*count)++;
        errno = 0;
    }
    if (errno != 0) {
        int error = errno;
        free_entries(entries, *count);
        errno = error;
        return NULL;
    }
    if (entries == NULL) {
        entries = PyMem_Malloc(sizeof(Entry)); /* empty, not an error */
        if (entries == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    qsort(entries, *count, sizeof(Entry), compare_entries);
    return entries;
}

/* The folder whose relative path is walk->path[0:len] ("" for the root). */
static int
walk_folder(Walk *walk, size_t len)
{
    int fd = len == 0 ? dup(walk->root_fd)
                      : openat(walk->root_fd, walk->path.data,
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return add_error(walk, len, errno);
    }
    DIR *folder = fdopendir(fd);
    if (folder == NULL) {
        int error = errno;
        close(fd);
        return add_error(walk, len, error);
    }
    size_t count;
    Entry *entries = read_entries(folder, &count);
    if (entries == NULL) {
        int error = errno;
        closedir(folder);
        return PyErr_Occurred() ? -1 : add_error(walk, len, error);
    }
    int failed = 0;
    for (size_t i = 0; i < count && !failed; i++) {
        size_t name_len = strlen(entries[i].name);
        size_t full = len + (len ? 1 : 0) + name_len;
        walk->path.len = len;
        if (buffer_reserve(&walk->path, full + 1 - len) < 0) {
            failed = -1;
            break;
        }
        if (len) {
            walk->path.data[len] = '/';
        }
        memcpy(walk->path.data + full - name_len, entries[i].name, name_len);
        walk->path.data[full] = '\0';
        walk->path.len = full;
        failed = look_at(walk, dirfd(folder), &entries[i], full);
        walk->path.data[len] = '\0'; /* back to this folder's path */
    }
    free_entries(entries, count);
    closedir(folder);
    return failed;
}

static PyObject *
scan(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *root;
    PyObject *resolved_root;
    PyObject *seed_type;
    PyObject *kinds;
    long long max_bytes;
    if (!PyArg_ParseTuple(args, "O&OO!O!L:scan", PyUnicode_FSConverter, &root, &resolved_root,
                          &PyType_Type, &seed_type, &PyDict_Type, &kinds, &max_bytes)) {
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)seed_type, &PyTuple_Type)) {
        Py_DECREF(root);
        PyErr_SetString(PyExc_TypeError, "scan: seed_type must be a tuple type");
        return NULL;
    }
    Walk walk = {
        .resolved_root = resolved_root,
        .seed_type = (PyTypeObject *)seed_type,
        .kinds = kinds,
        .max_bytes = max_bytes,
        .seeds = PyList_New(0),
        .odd = PyList_New(0),
        .errors = PyList_New(0),
    };
    PyObject *result = NULL;
    if (walk.seeds && walk.odd && walk.errors && buffer_reserve(&walk.path, 256) == 0) {
        walk.path.data[0] = '\0';
        walk.root_fd =
            open(PyBytes_AS_STRING(root), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (walk.root_fd < 0) {
            if (add_error(&walk, 0, errno) == 0) {
                result = PyTuple_Pack(3, walk.seeds, walk.odd, walk.errors);
            }
        }
        else {
            if (walk_folder(&walk, 0) == 0) {
                result = PyTuple_Pack(3, walk.seeds, walk.odd, walk.errors);
            }
            close(walk.root_fd);
        }
    }
    PyMem_Free(walk.path.data);
    Py_XDECREF(walk.seeds);
    Py_XDECREF(walk.odd);
    Py_XDECREF(walk.errors);
    Py_DECREF(root);
    return result;
}

/* -- lines ------------------------------------------------------------------------------ */

static uint32_t crc_table[256];

static void
crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[n] = c;
    }
}

/* zlib.crc32's CRC-32 */
static uint32_t
crc32_of(const unsigned char *data, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        c = crc_table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

/* "path\0size\0mtime_ns", '\n' before it unless it is the buffer's first line */
static int
add_line(Buffer *buffer, const char *path, size_t path_len, const char *numbers,
         size_t numbers_len)
{
    if (buffer_reserve(buffer, path_len + numbers_len + 1) < 0) {
        return -1;
    }
    if (buffer->len) {
        buffer->data[buffer->len++] = '\n';
    }
    memcpy(buffer->data + buffer->len, path, path_len);
    buffer->len += path_len;
    memcpy(buffer->data + buffer->len, numbers, numbers_len);
    buffer->len += numbers_len;
    return 0;
}

static PyObject *
lines(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *files;
    Py_ssize_t buckets;
    if (!PyArg_ParseTuple(args, "On:lines", &files, &buckets)) {
        return NULL;
    }
    if (buckets <= 0) {
        PyErr_SetString(PyExc_ValueError, "lines: buckets must be positive");
        return NULL;
    }
    PyObject *sequence = PySequence_Fast(files, "lines: files must be a sequence");
    if (sequence == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    Buffer listing = {0};
    Buffer *groups = PyMem_Calloc((size_t)buckets, sizeof(Buffer));
    Py_ssize_t *counts = PyMem_Calloc((size_t)buckets, sizeof(Py_ssize_t));
    PyObject *of_each = PyList_New(count);
    PyObject *result = NULL;
    if (groups == NULL || counts == NULL || of_each == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *file = PySequence_Fast_GET_ITEM(sequence, i);
        if (!PyTuple_Check(file) || PyTuple_GET_SIZE(file) < 5) {
            PyErr_SetString(PyExc_TypeError, "lines: each file must be a SeedFile");
            goto done;
        }
        PyObject *path = PyUnicode_EncodeFSDefault(PyTuple_GET_ITEM(file, 0));
        if (path == NULL) {
            goto done;
        }
        long long size = PyLong_AsLongLong(PyTuple_GET_ITEM(file, 3));
        long long mtime_ns = PyLong_AsLongLong(PyTuple_GET_ITEM(file, 4));
        if (PyErr_Occurred()) {
            Py_DECREF(path);
            goto done;
        }
        char numbers[64];
        int numbers_len = snprintf(numbers, sizeof numbers, "%c%lld%c%lld", 0, size, 0,
                                   mtime_ns);
        const char *bytes = PyBytes_AS_STRING(path);
        size_t bytes_len = (size_t)PyBytes_GET_SIZE(path);
        Py_ssize_t bucket =
            (Py_ssize_t)(crc32_of((const unsigned char *)bytes, bytes_len) % (uint32_t)buckets);
        int failed =
            add_line(&listing, bytes, bytes_len, numbers, (size_t)numbers_len) < 0 ||
            add_line(&groups[bucket], bytes, bytes_len, numbers, (size_t)numbers_len) < 0;
        Py_DECREF(path);
        if (failed) {
            goto done;
        }
        counts[bucket]++;
        PyObject *number = PyLong_FromSsize_t(bucket);
        if (number == NULL) {
            goto done;
        }
        PyList_SET_ITEM(of_each, i, number);
    }
    PyObject *group_list = PyList_New(buckets);
    PyObject *count_list = PyList_New(buckets);
    if (group_list == NULL || count_list == NULL) {
        Py_XDECREF(group_list);
        Py_XDECREF(count_list);
        goto done;
    }
    for (Py_ssize_t b = 0; b < buckets; b++) {
        PyObject *group = PyBytes_FromStringAndSize(groups[b].data, (Py_ssize_t)groups[b].len);
        PyObject *number = PyLong_FromSsize_t(counts[b]);
        if (group == NULL || number == NULL) {
            Py_XDECREF(group);
            Py_XDECREF(number);
            Py_DECREF(group_list);
            Py_DECREF(count_list);
            goto done;
        }
        PyList_SET_ITEM(group_list, b, group);
        PyList_SET_ITEM(count_list, b, number);
    }
    PyObject *whole = PyBytes_FromStringAndSize(listing.data, (Py_ssize_t)listing.len);
    if (whole == NULL) {
        Py_DECREF(group_list);
        Py_DECREF(count_list);
        goto done;
    }
    result = Py_BuildValue("(NNNO)", whole, group_list, count_list, of_each);
done:
    if (groups != NULL) {
        for (Py_ssize_t b = 0; b < buckets; b++) {
            PyMem_Free(groups[b].data);
        }
    }
    PyMem_Free(groups);
    PyMem_Free(counts);
    PyMem_Free(listing.data);
    Py_XDECREF(of_each);
    Py_DECREF(sequence);
    return result;
}

/* -- the module ------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "The seed files under a folder: (seeds, odd, errors)."},
    {"lines", lines, METH_VARARGS, "The listing bytes of files, whole and by bucket."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_listing",
    .m_doc = "The seeds folder's listing in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__listing(void)
{
    crc_init();
    return PyModule_Create(&module);
}
