module example.com/supervisor-go-worker

go 1.26.8

require github.com/supervisor/supervisor v0.0.0

replace github.com/supervisor/supervisor => ../..
