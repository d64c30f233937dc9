# Thin wrapper around meson.  `make test` builds with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs every test; `make` builds optimised.
BUILD   ?= build
SAN     ?= build-san
SECONDS ?= 60
MESON   := meson

.PHONY: all bootstrap test demo bench fuzz clean install valgrind tsan

all: bootstrap $(BUILD)/build.ninja
	ninja -C $(BUILD)

bootstrap:
	@sh scripts/bootstrap

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --buildtype=release

$(SAN)/build.ninja:
	$(MESON) setup $(SAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

# Three tests at a time on two cores: the multi-process tests mostly wait
# (slow links, timeouts, kills), and their waits are bounded generously.
test: bootstrap $(SAN)/build.ninja
	ninja -C $(SAN)
	$(MESON) test -C $(SAN) --print-errorlogs --num-processes 3

demo: all
	sh scripts/demo $(BUILD)

bench: all
	sh scripts/bench $(BUILD)

install: all
	$(MESON) install -C $(BUILD)

# libFuzzer targets (docs/security.md): clang, ASan + UBSan, each target
# run alone for $(SECONDS) s; exits non-zero if any found a crash, leak or
# timeout.  FUZZ_TARGETS= picks some ("record wire").
FUZZ         ?= build-fuzz
FUZZ_TARGETS ?=
FUZZ_BINS     = record wire ctl noise_init noise_resp iblt bundle json csv keyfile sketch zip

$(FUZZ)/build.ninja:
	CC=clang $(MESON) setup $(FUZZ) --buildtype=debugoptimized -Dfuzz=true \
	  -Db_sanitize=address,undefined -Db_lundef=false

fuzz: $(FUZZ)/build.ninja
	ninja -C $(FUZZ) -j2 $(addprefix tests/fuzz/fuzz_,$(FUZZ_BINS))
	sh tests/fuzz/run.sh $(FUZZ) $(SECONDS) $(FUZZ_TARGETS)

# The whole suite under Valgrind's memcheck on a plain debug build, no
# sanitizers (scripts/valgrind, docs/security.md "Valgrind"): ~45 min, not
# part of `make test`.  Exits non-zero on any test failure or report.
VG ?= build-vg
valgrind: bootstrap
	sh scripts/valgrind $(VG)

# The threaded paths (stoad's commit thread, import's verifiers) under
# ThreadSanitizer (scripts/tsan): ~10 min, not part of `make test`.
TSAN ?= build-tsan
tsan: bootstrap
	sh scripts/tsan $(TSAN)

clean:
	rm -rf $(BUILD) $(SAN)
