.PHONY: demo test setup
demo:
	scripts/demo
test:
	scripts/test
setup:
	scripts/setup
