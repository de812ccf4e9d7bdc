# Operaciones: la profundidad de las colas y los mensajes muertos de la organización.
operations-title = Operaciones
operations-queues-caption = Colas (en espera y en curso son de todo el despliegue; los mensajes muertos son de esta organización)
operations-queue = Cola
operations-waiting = En espera
operations-oldest-waiting = El más antiguo en espera
operations-in-flight = En curso
operations-dead-letters = Mensajes muertos
dead-letters-of-queue = Mensajes muertos de la cola { $queue }
dead-letter-last-error = Último error:
dead-letter-attempts = { $attempts ->
    [one] 1 intento
   *[other] { $attempts } intentos
} · abandonado el { $at }
dead-letter-payload = Contenido
dead-letter-replay = Reintentar
dead-letter-delete = Eliminar
dead-letter-delete-confirm = ¿Eliminar este mensaje muerto para siempre?
dead-letters-showing-first = { $count ->
    [one] Se muestra el primero;
   *[other] Se muestran los primeros { $count };
}
dead-letters-lists-all = los lista todos.
dead-letter-replayed = El mensaje muerto ha vuelto a su cola.
dead-letter-deleted = El mensaje muerto se ha eliminado.
