# Thin wrapper around meson.  `make test` builds with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs every test; `make` builds optimised.
BUILD   ?= build
SAN     ?= build-san
SECONDS ?= 60
MESON   := meson

.PHONY: all bootstrap test demo bench fuzz clean install

all: bootstrap $(BUILD)/build.ninja
	ninja -C $(BUILD)

bootstrap:
	@sh scripts/bootstrap

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --buildtype=release

$(SAN)/build.ninja:
	$(MESON) setup $(SAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

test: bootstrap $(SAN)/build.ninja
	ninja -C $(SAN)
	$(MESON) test -C $(SAN) --print-errorlogs --num-processes 2

demo: all
	sh scripts/demo $(BUILD)

bench: all
	sh scripts/bench $(BUILD)

install: all
	$(MESON) install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN)
