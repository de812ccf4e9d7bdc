# El asistente de campañas: datos básicos, audiencia, mensaje, flujo del bot y ritmo, revisión, vista previa.

## Los pasos y lo que comparten sus páginas
wizard-step-basics = Datos básicos
wizard-step-audience = Audiencia
wizard-step-message = Plantilla y mensaje
wizard-step-bot = Flujo del bot y ritmo
wizard-step-review = Revisar y enviar
wizard-steps-label = Pasos del asistente
wizard-step-problems = ({ $count } por corregir)
wizard-draft-not-ready = Este borrador aún no está listo
wizard-new-campaign = Nueva campaña
wizard-new-test-campaign = Nueva campaña de prueba
wizard-all-campaigns = ← Todas las campañas
wizard-campaign-page = Página de la campaña
wizard-not-saved = No se ha podido guardar
wizard-save-and-continue = Guardar y continuar
wizard-save-draft = Guardar borrador
wizard-saved = Guardado.
wizard-saved-as-draft = La campaña se ha guardado como borrador.
wizard-settings-link = Ajustes

## Datos básicos
wizard-name-label = Nombre de la campaña
wizard-kind = Tipo
wizard-kind-real = Real: a una audiencia elegida por etiquetas
wizard-kind-test = Prueba: a unos pocos contactos de prueba
wizard-number-label = Número de WhatsApp desde el que enviar
wizard-number-choose = Elige un número
wizard-number-unverified-name = nombre sin verificar
# Le sigue un enlace a Ajustes, luego "(o con" y la llamada a la API.
wizard-numbers-empty = Aún no hay ningún número registrado: un administrador lo registra en
wizard-numbers-empty-api = (o con

## Audiencia
wizard-audience-fixed = Esta campaña reintenta una lista fija de { $count ->
    [one] 1 contacto
   *[other] { $count } contactos
} de otra campaña, cuyo fallo merecía reintentarse; su audiencia no puede cambiar. Para llegar a contactos por etiquetas, crea una campaña nueva.
wizard-test-phones-label = Teléfonos de prueba (uno por línea; cada uno debe ser un contacto)
wizard-tags-label = Etiquetas (separadas por comas)
# Alrededor de <code>key=value</code>.
wizard-valued-tags-label = Etiquetas con valor (una
wizard-valued-tags-label-end = por línea)
wizard-match-legend = Los contactos deben cumplir
wizard-match-all = todas las etiquetas y etiquetas con valor
wizard-match-any = cualquiera de ellas
wizard-audience-matches = { $count ->
    [one] 1 contacto coincide con esta audiencia
   *[other] { $count } contactos coinciden con esta audiencia
}
wizard-audience-count-note = (según lo guardado; los contactos dados de baja y otros excluidos se cuentan en la revisión)
wizard-audience-empty = Elige al menos una etiqueta o etiqueta con valor: ningún contacto coincide con una audiencia vacía

## Plantilla y mensaje
wizard-template-label = Plantilla e idioma (plantillas aprobadas)
wizard-template-choose = Elige una plantilla
wizard-template-no-category = sin categoría
# Le sigue un enlace a Ajustes.
wizard-templates-empty = Aún no se ha sincronizado ninguna plantilla aprobada: sincronízalas en
wizard-template-saved = Se ha guardado la plantilla. Ahora asigna un valor a cada una de sus variables.
wizard-bindings-legend = El valor de cada variable
# $placeholder es como {{1}}.
wizard-placeholder-in-header = { $placeholder } en el encabezado
wizard-placeholder-in-body = { $placeholder } en el cuerpo
wizard-binding-source-label = { $placeholder }: valor tomado de
wizard-binding-kind-text = Texto libre
wizard-binding-kind-contact-name = El nombre del contacto
wizard-binding-kind-valued-tag = Una etiqueta con valor del contacto
wizard-binding-value-label = Texto libre
wizard-binding-key-label = Clave de la etiqueta con valor
wizard-binding-for = para { $placeholder }
wizard-header-media-heading = { $format ->
    [IMAGE] Imagen del encabezado
    [VIDEO] Vídeo del encabezado
   *[DOCUMENT] Documento del encabezado
}
wizard-header-media-none = El encabezado de la plantilla necesita un archivo: aún no se ha subido ninguno.
wizard-header-media-current = Encabezado actual: { $media }.
wizard-header-media-unnamed = archivo subido
wizard-media-label = Archivo (JPEG o PNG de hasta 5 MB, MP4 o 3GPP de hasta 16 MB)
wizard-media-upload = Subir
wizard-media-uploaded = { $filename } se ha subido a Meta y es el encabezado de esta campaña.

## Flujo del bot y ritmo
wizard-bot-flow-label = Flujo del bot que atiende las respuestas
wizard-bot-flow-choose = Elige un flujo del bot
# Le sigue la llamada a la API.
wizard-bot-flows-empty = Aún no existe ningún flujo del bot: crea uno con
wizard-pace-label = Contactos por segundo si se inicia ahora (vacío: el valor por defecto)
wizard-delivery-legend = Cuando no se sabe si un envío ha llegado
wizard-delivery-at-most-once = no volver a enviarlo nunca (como mucho una vez)
wizard-delivery-at-least-once = volver a enviarlo (al menos una vez)

## Revisar y enviar
review-title = Revisión
review-summary-caption = Lo que envía esta campaña
review-change = Cambiar
review-line-name = Nombre
review-line-number = Número
review-line-audience = Audiencia
review-line-template = Plantilla
review-line-bot-flow = Flujo del bot
review-pace = Ritmo
review-not-chosen = — sin elegir
# Le siguen los teléfonos.
review-audience-test-phones = teléfonos de prueba:
review-audience-fixed = { $count ->
    [one] el contacto
   *[other] los { $count } contactos
} que se reintentan de otra campaña
# Le sigue la etiqueta.
review-audience-tag = etiqueta
review-audience-and = y
review-audience-or = o
review-audience-contacts-with = contactos con { $terms }
review-pace-default = { $pace } contactos por segundo (el valor por defecto)
review-pace-per-second = { $pace } contactos por segundo
review-forecast = Previsión
review-will-send = Se enviará a
review-will-send-of = { $count } de { $audience }
review-will-not-send = No se enviará a
review-eta = El envío tarda
review-eta-until = { $eta }, hasta el { $until }
review-forecast-pace = { $pace } contactos por segundo
review-forecast-pace-limited = { $pace } contactos por segundo, limitado por el rendimiento del número en Meta
review-exclusions-caption = Por qué no se enviará a algunos contactos
review-exclusions-reason = Motivo
review-exclusions-contacts = Contactos
review-exclusions-sample = Por ejemplo
review-send-it = Enviarla
review-save-ready = Guardar como lista
review-start-confirm = ¿Empezar a enviar «{ $name }» ahora?
review-start-now = Empezar ahora
review-send-test = Enviar una prueba
review-schedule = Programar
review-date = Fecha (UTC)
review-time = Hora (UTC, formato 24 horas)
review-contacts-per-hour = Contactos por hora
review-ready-notice = «{ $name }» está lista para lanzar.
review-not-ready-notice = Aún no está lista: { $problems }
review-test-sent = La prueba se está enviando. Es una campaña de prueba propia; la campaña que has probado no cambia.
review-scheduled-notice = La campaña está programada para el { $at }.

## Vista previa
preview-title = Vista previa
preview-as = Tal como lo leería { $contact }.
preview-no-contact = ningún contacto de la audiencia todavía (los valores de los contactos se muestran entre corchetes)
preview-contact-no-name = sin nombre
preview-no-name-value = [sin nombre: no se le envía]
preview-no-valued-tag-value = [sin { $key }: no se le envía]
preview-not-bound = [{ $placeholder } no tiene valor asignado]
# $format es el formato de encabezado de Meta; $kind, tal como se escribe, para un formato sin palabras aquí.
preview-media-uploaded = { $format ->
    [IMAGE] Encabezado con imagen (subida)
    [VIDEO] Encabezado con vídeo (subido)
    [DOCUMENT] Encabezado con documento (subido)
    [LOCATION] Encabezado con ubicación (subida)
   *[other] Encabezado { $kind } (subido)
}
preview-media-not-uploaded = { $format ->
    [IMAGE] Encabezado con imagen (aún sin subir)
    [VIDEO] Encabezado con vídeo (aún sin subir)
    [DOCUMENT] Encabezado con documento (aún sin subir)
    [LOCATION] Encabezado con ubicación (aún sin subir)
   *[other] Encabezado { $kind } (aún sin subir)
}

## Paso del bot: capacidad del equipo de soporte y horario de silencio
wizard-capacity-legend = Capacidad del equipo de soporte (opcional)
wizard-capacity-help = El ritmo baja, o espera, para que las respuestas que provoca la campaña no superen lo que tu equipo puede atender. Nunca supera el ritmo indicado arriba.
wizard-capacity-replies = Respuestas por hora que el equipo puede atender
wizard-capacity-cases = Máximo de casos de bandeja abiertos a la vez
wizard-quiet-legend = Horario de silencio (opcional)
wizard-quiet-help = Enviar solo dentro de esta franja de la hora local de cada contacto (su zona horaria, o la del país de su teléfono). Los contactos fuera de ella esperan.
wizard-quiet-from = Enviar desde
wizard-quiet-until = Enviar hasta
review-line-capacity = Capacidad de soporte
review-capacity-replies = { $count } respuestas por hora
review-capacity-cases = como máximo { $count } casos abiertos
review-line-quiet = Horario de silencio
review-quiet-window = envía de { $from } a { $until }, hora local de cada contacto
review-quiet-open = abierto ahora
review-quiet-closed = en espera
review-limit = Límite de mensajería
review-limit-value = { $used } de { $limit } usuarios alcanzados en las últimas 24 horas ({ $tier })
review-limit-days = Con este nivel la campaña necesita unos { $days } días.
