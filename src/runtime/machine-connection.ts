/**
 * A connection of an app with a `clientMachine`: the Connection plus that client's machine
 * runner, which gets the messages in place of `onData` (docs/lifecycle.md, M1–M6). The server
 * makes these only for such apps, so an app without a machine pays nothing for it. The
 * connection is the runner's host itself: no object or closures per client for it.
 */
import type { AnyActorRef, AnyMachineSnapshot } from 'xstate';
import { isSendableCloseCode } from '../close-codes.js';
import type { Endpoint } from '../endpoint/types.js';
import { ClientMachineRunner, type RunnerHost } from './client-machine-runner.js';
import { Connection } from './connection.js';
import type { LifecycleStream } from './lifecycle-events.js';
import type { Message } from './message.js';

export class MachineConnection extends Connection implements RunnerHost {
  /** From `onOpen` settled until `onClose`. */
  #machine: ClientMachineRunner | null = null;

  override deliver(message: Message): boolean | PromiseLike<unknown> {
    const machine = this.#machine;
    if (machine === null) return true;
    try {
      return machine.deliver(message);
    } catch (error) {
      this.deliveryFailed(error);
      return false;
    }
  }

  protected override startMachine(handshake: unknown): void {
    const config = this.host.app.clientMachine;
    if (config === undefined) return;
    this.#machine = new ClientMachineRunner(config, this, { clientId: this.id, handshake });
    this.#machine.start();
  }

  protected override hibernateMachine(): boolean {
    return this.#machine === null || this.#machine.hibernate();
  }

  protected override finishMachine(code: number, reason: string): AnyMachineSnapshot | undefined {
    return this.#machine?.finish(code, reason);
  }

  protected override machineState(): string | null {
    return this.#machine?.state ?? null;
  }

  protected override messagesRejected(): number {
    return this.#machine?.rejected ?? 0;
  }

  // RunnerHost
  machineEndpoint(): Endpoint {
    return this.host.endpoint;
  }

  machineLifecycle(): LifecycleStream {
    return this.host.lifecycle;
  }

  machineNow(): number {
    return this.host.options.clock.now();
  }

  machineParent(): AnyActorRef {
    return this.wakeActor();
  }

  machineFailed(error: unknown): void {
    this.hookFailed('clientMachine', error);
  }

  machineFinished(code: number, reason: string): void {
    const sendable = isSendableCloseCode(code);
    if (!sendable) this.host.options.logger.error(`client machine of client ${this.id} ended with unsendable close code ${code}; closing with 1011`);
    this.beginClose(sendable ? { kind: 'app', code, reason } : { kind: 'hook-failed', hook: 'clientMachine' });
  }

  /** The app's policy closes: like endpoint.close, what waits is dropped (counted). */
  machineRefused(reason: string): void {
    this.beginClose({ kind: 'app', code: 1008, reason });
  }

  machineIdle(): void {
    if (this.lifecycle === 'open.ready') this.host.services.hibernation.add(this);
  }
}
