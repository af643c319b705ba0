package main

import "context"

func (b *bench) enqueue(ctx context.Context) error       { return nil }
func (b *bench) drain(ctx context.Context) error         { return nil }
func (b *bench) idempotency(ctx context.Context) error   { return nil }
func (b *bench) sqliteDrivers(ctx context.Context) error { return nil }
