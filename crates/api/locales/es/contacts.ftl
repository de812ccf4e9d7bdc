# Contactos: la lista y sus filtros, la importación CSV con su informe por fila, la página de un contacto.
contacts-title = Contactos
contacts-all = Todos los contactos
contacts-filter-q = Teléfono o nombre
contacts-filter-tags = Etiquetas (separadas por comas)
contacts-filter-valued-tags-before = Etiquetas con valor (
contacts-filter-valued-tags-after = , separadas por comas)
contacts-filter = Filtrar
contacts-clear-filters = Quitar los filtros
contacts-empty-filtered = Ningún contacto coincide con estos filtros.
contacts-empty = Todavía no hay contactos: importa un archivo CSV arriba.
contacts-phone = Teléfono
contacts-name = Nombre
contacts-tags = Etiquetas
contacts-valued-tags = Etiquetas con valor
contacts-status = Estado
contacts-next-page = Página siguiente
contacts-status-opted-out = Dado de baja
contacts-status-inbox-open = Caso de bandeja de entrada abierto desde { $at }
import-heading = Importar un archivo CSV
import-columns = Columnas:
import-phone-required = (obligatoria, E.164),
import-tags-separated-by = (separadas por
import-and-one = ) y una columna
import-column-per-valued-tag = por cada etiqueta con valor. Se importan todas las filas o ninguna.
import-file = Archivo CSV
import-button = Importar
import-done = { $rows ->
    [one] Se ha importado 1 fila
   *[other] Se han importado { $rows } filas
}: { $created ->
    [one] 1 contacto creado
   *[other] { $created } contactos creados
}, { $updated ->
    [one] 1 actualizado
   *[other] { $updated } actualizados
}.
import-nothing-imported = No se ha importado nada: { $message }
import-rows-caption = Filas que hay que corregir (los números de línea cuentan la cabecera como línea 1)
import-line = Línea
import-column = Columna
import-problem = Problema
import-choose-corrected = Elige el archivo corregido
contact-back = ← Todos los contactos
contact-tags = Etiquetas
contact-opt-out = Baja
contact-opted-out = Dado de baja: ninguna campaña envía a este contacto
contact-not-opted-out = No dado de baja
contact-inbox = Caso abierto en la bandeja de entrada
contact-inbox-none = Ninguno
contact-inbox-since = Desde { $at }
contact-since = Contacto desde
contact-valued-tags = Etiquetas con valor
contact-valued-tags-none = Ninguna.
contact-key = Clave
contact-value = Valor
contact-campaigns = Campañas
contact-campaigns-empty = Este contacto no ha estado en ninguna campaña.
contact-campaigns-caption = Campañas en las que ha estado este contacto
contact-campaign = Campaña
contact-kind = Tipo
contact-outcome = Resultado
contact-reason = Motivo
contact-planned = Planificado
contact-kind-test = Prueba
contact-kind-real = Real
